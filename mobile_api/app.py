"""The FastAPI application: router assembly, the connection pool and health.

Domains (auth, jobs, check-ins, photos, ...) each bring their own router;
this module only wires them together.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.db import AsyncNotifyAfterCommit, NotifyAfterCommit
from gridcrew.health import check_broker, check_database, check_migrations, check_storage
from mobile_api import metrics, problems
from mobile_api.audit.router import router as audit_router
from mobile_api.auth.router import router as auth_router
from mobile_api.board.router import router as board_router
from mobile_api.checkins.router import router as checkins_router
from mobile_api.complaints.router import router as complaints_router
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
from mobile_api.signoffs.router import router as signoffs_router
from mobile_api.sync.router import router as sync_router
from mobile_api.track.applications import router as applications_router
from mobile_api.track.router import router as track_router

_CONNECTION = {"row_factory": dict_row, "autocommit": True}
"""Both pools' connections: dict rows, autocommit (a writer opens its transaction)."""


def create_app(database_url: str | None = None) -> FastAPI:
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
        )
        await async_pool.open(wait=True, timeout=30)
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

    app = FastAPI(
        title="GridCrew mobile API",
        version="1.0",
        description="Crews, customers and dispatchers of an electric distribution "
        "utility. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
    )
    problems.install(app)
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
    app.include_router(i18n_router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        checks = {
            "database": check_database(url),
            "migrations": check_migrations(url),
            "broker": check_broker(),
            "storage": check_storage(),
        }
        body = {
            "ok": all(c["ok"] for c in checks.values()),
            **{k: {kk: vv for kk, vv in v.items() if kk != "fix"} for k, v in checks.items()},
        }
        return body

    return app
