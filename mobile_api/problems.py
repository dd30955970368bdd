"""RFC 9457 problem details for every error the API returns.

Handlers raise :class:`Problem` (or HTTPException); nothing reaches the client
as a bare stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridcrew import db

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 2
"""What a client is told to wait when the database is away (a failover takes seconds)."""


class Problem(HTTPException):
    """An error with a stable machine-readable ``code`` and extra members."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code
        self.title = title or code.replace("_", " ").capitalize()
        self.extra = extra


def problem_response(
    status: int,
    title: str,
    detail: Any,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"https://gridcrew.dev/problems/{code or status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def response_of(exc: Problem) -> JSONResponse:
    return problem_response(
        exc.status_code, exc.title, exc.detail, code=exc.code, headers=exc.headers, **exc.extra
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return response_of(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {
            401: "Not authenticated",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
        }.get(exc.status_code, "Error")
        return problem_response(
            exc.status_code, title, exc.detail, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            422,
            "Invalid request",
            "the request does not match the schema",
            code="validation_error",
            errors=errors,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # the primary is gone or changing (docs/scale-out.md): nothing was answered, so the
        # client retries, with the same Idempotency-Key for a write
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503,
            "Database unavailable",
            f"the database is switching over; retry in {RETRY_AFTER_S} s",
            code="database_unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    for error in db.UNAVAILABLE:
        app.add_exception_handler(error, _unavailable)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "an unexpected error occurred; it has been logged",
            code="internal_error",
        )
