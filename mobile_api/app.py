"""The FastAPI application: router assembly, the connection pool and health.

Domains (auth, jobs, check-ins, photos, ...) each bring their own router;
this module only wires them together.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from gridcrew.config import get_settings
from gridcrew.health import check_broker, check_database, check_migrations
from mobile_api import problems
from mobile_api.auth.router import router as auth_router
from mobile_api.board.router import router as board_router
from mobile_api.map.router import router as map_router


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
            kwargs={"row_factory": dict_row, "autocommit": True},
        )
        pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.database_url = url
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="GridCrew mobile API",
        version="1.0",
        description="Crews, customers and dispatchers of an electric distribution "
        "utility. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(auth_router)
    app.include_router(board_router)
    app.include_router(map_router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        checks = {
            "database": check_database(url),
            "migrations": check_migrations(url),
            "broker": check_broker(),
        }
        body = {
            "ok": all(c["ok"] for c in checks.values()),
            **{k: {kk: vv for kk, vv in v.items() if kk != "fix"} for k, v in checks.items()},
        }
        return body

    return app
