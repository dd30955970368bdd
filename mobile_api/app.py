"""The FastAPI application: router assembly, the connection pool and health.

Domains (auth, jobs, check-ins, photos, ...) each bring their own router;
this module only wires them together.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from gridcrew import audit, db, health
from gridcrew.config import get_settings
from gridcrew.db import AsyncNotifyAfterCommit, NotifyAfterCommit
from gridcrew.secret_policy import require
from mobile_api import bodylimit, bodytext, headers, metrics, problems
from mobile_api.audit.router import router as audit_router
from mobile_api.auth.router import router as auth_router
from mobile_api.board.router import router as board_router
from mobile_api.checkins.router import router as checkins_router
from mobile_api.complaints.router import router as complaints_router
from mobile_api.crew.router import router as crew_router
from mobile_api.customer.router import router as customer_router
from mobile_api.deps import decode_access_token, oauth2_scheme
from mobile_api.i18n.router import router as i18n_router
from mobile_api.jobs.router import router as jobs_router
from mobile_api.kpi.router import router as kpi_router
from mobile_api.map.router import router as map_router
from mobile_api.notifications.router import router as notifications_router
from mobile_api.osmand.router import router as osmand_router
from mobile_api.outages.router import router as outages_router
from mobile_api.photos.router import router as photos_router
from mobile_api.planned.router import router as planned_router
from mobile_api.positions.router import router as positions_router
from mobile_api.problems import Problem
from mobile_api.signoffs.router import router as signoffs_router
from mobile_api.storage import check_storage
from mobile_api.sync.router import router as sync_router
from mobile_api.track.applications import router as applications_router
from mobile_api.track.router import router as track_router

_CONNECTION = {"row_factory": dict_row, "autocommit": True}
"""Both pools' connections: dict rows, autocommit (a writer opens its transaction)."""
SECRETS = ("jwt_secret", "service_password")
"""The API signs tokens and logs in to the broker (outage announcements, health)."""


def _may_see_health_detail(request: Request, token: str | None) -> bool:
    """A caller on this host (behind a proxy only when GRIDCREW_TRUSTED_PROXIES names it),
    or one with a valid access token."""
    host = request.client.host if request.client else ""
    if host in ("127.0.0.1", "::1"):
        return True
    if not token:
        return False
    try:
        decode_access_token(token)
    except Problem:
        return False
    return True


def create_app(database_url: str | None = None) -> FastAPI:
    """The application; exits with a message instead when its secrets are not usable."""
    require("the API", SECRETS)
    settings = get_settings()
    url = database_url or settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = ConnectionPool(
            url,
            min_size=2,
            max_size=16,
            open=False,
            kwargs=_CONNECTION,
            # NOTIFYs go out after the commit: no commit-wide lock across the WAL flush
            connection_class=NotifyAfterCommit,
            # a connection cut by the server (restart, failover) is replaced, not handed out
            check=ConnectionPool.check_connection,
            timeout=db.POOL_WAIT_S,
            reconnect_timeout=db.POOL_RECONNECT_TIMEOUT_S,
        )
        pool.open(wait=True, timeout=30)
        # the event loop's own connections, for the async handlers (deps.AsyncDbConn)
        async_pool = AsyncConnectionPool(
            url,
            min_size=2,
            max_size=8,
            open=False,
            kwargs=_CONNECTION,
            connection_class=AsyncNotifyAfterCommit,
            check=AsyncConnectionPool.check_connection,
            timeout=db.POOL_WAIT_S,
            reconnect_timeout=db.POOL_RECONNECT_TIMEOUT_S,
        )
        await async_pool.open(wait=True, timeout=30)
        # read-only traffic on a standby (deps.ReadDbConn), when a read URL is set (an app
        # made for another database than the settings' reads that one only)
        read_pool = None
        if settings.database_read_url and database_url is None:
            read_pool = ConnectionPool(
                settings.database_read_url,
                min_size=1,
                max_size=4,
                open=False,
                kwargs=_CONNECTION,
                check=ConnectionPool.check_connection,
                timeout=db.POOL_WAIT_S,
                reconnect_timeout=db.POOL_RECONNECT_TIMEOUT_S,
            )
            read_pool.open(wait=True, timeout=30)
        app.state.read_pool = read_pool
        app.state.pool = pool
        app.state.async_pool = async_pool
        app.state.database_url = url
        sealer = audit.Sealer(url).start()
        # What is built by now (modules, routes, models) lives as long as the process:
        # frozen out of the collector's way, a full collection scans only what requests
        # left behind (unfrozen it paused every request ~35 ms twice a minute)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            sealer.stop()
            await async_pool.close()
            pool.close()
            if read_pool is not None:
                read_pool.close()

    app = FastAPI(
        title="GridCrew mobile API",
        version="1.0",
        description="Crews, customers and dispatchers of an electric distribution "
        "utility. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
    )
    problems.install(app)
    # the last added runs first: headers on every answer, then the size limit, then the
    # text check (which buffers a JSON body the limit has bounded)
    app.add_middleware(bodytext.UnicodeText)
    app.add_middleware(
        bodylimit.BodySizeLimit,
        limits=bodylimit.api_limits(
            json_max_bytes=settings.json_max_bytes,
            sync_max_bytes=settings.sync_max_bytes,
            photo_max_bytes=settings.photo_max_bytes,
        ),
    )
    app.add_middleware(headers.SecurityHeaders)
    metrics.install(app, count=settings.api_metrics, access=settings.api_access_log)
    # a request is matched against the routes in this order (about 4 us a route): the
    # crews' terminals, the most frequent callers, come first
    app.include_router(auth_router)
    app.include_router(jobs_router)
    app.include_router(checkins_router)
    app.include_router(positions_router)
    app.include_router(photos_router)
    app.include_router(signoffs_router)
    app.include_router(sync_router)
    app.include_router(track_router)
    app.include_router(applications_router)
    app.include_router(notifications_router)
    app.include_router(audit_router)
    app.include_router(kpi_router)
    app.include_router(outages_router)
    app.include_router(complaints_router)
    app.include_router(planned_router)
    app.include_router(osmand_router)
    app.include_router(board_router)
    app.include_router(map_router)
    app.include_router(crew_router)
    app.include_router(customer_router)
    app.include_router(i18n_router)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> dict:
        """Whether every part is up; what each is (versions, addresses, the photo store)
        only for a logged-in or a local caller."""
        report = health.check(url, more={"storage": check_storage})
        if not _may_see_health_detail(request, token):
            return {"ok": report["ok"]}
        parts = report["checks"].items()
        return {
            "ok": report["ok"],
            **{k: {kk: vv for kk, vv in v.items() if kk != "fix"} for k, v in parts},
        }

    return app
