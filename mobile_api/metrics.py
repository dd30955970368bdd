"""The API's request context, access log and Prometheus metrics (``GET /metrics``).

One pure ASGI middleware per request: a request id (the client's ``X-Request-ID`` when
it is a sane one, else a new one; echoed in the response) set for every log line of the
request (``gridcrew.logs.request_id_var``); the latency histogram by method, route
template and status; rate-limit refusals; open event streams; one access-log line
whose query string has its tokens masked. Labels are route templates
(``/v1/jobs/{job_id}/check-ins``), never ids. Never reads a request body and never
changes a response but for the ``X-Request-ID`` header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridcrew import metrics as shared
from gridcrew.logs import redact, request_id_var

access_log = logging.getLogger("gridcrew.api.access")

REQUEST_SECONDS = Histogram(
    "gridcrew_api_request_duration_seconds",
    "Time from a request's arrival to its response's last byte; _count is the request count",
    ["method", "route", "status"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(
    "gridcrew_api_rate_limited_total", "Requests refused with 429 Too Many Requests", ["route"]
)
IDEMPOTENT_REPLAYS = Counter(
    "gridcrew_api_idempotent_replays_total",
    "Requests answered with the stored answer of an earlier one with the same Idempotency-Key",
)
SSE_CLIENTS = Gauge(
    "gridcrew_api_sse_clients",
    "Open server-sent event streams (the dispatcher's board)",
    multiprocess_mode="livesum",
)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNMATCHED = "unmatched"
"""The route label of requests no route matched (404s of any path: not a label each)."""


def route_template(scope: Scope) -> str:
    """The template of the route that served *scope* (set by Starlette's router)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    return getattr(route, "path", UNMATCHED)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex[:16]


class RequestMiddleware:
    """Request id, metrics (*count*) and the access log (*access*) of every HTTP request."""

    def __init__(self, app: ASGIApp, *, count: bool, access: bool) -> None:
        self.app, self.count, self.access = app, count, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        stream = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                stream = any(
                    k == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers
                )
                if stream and self.count:
                    SSE_CLIENTS.inc()
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            if self.count:
                if stream:
                    SSE_CLIENTS.dec()
                REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(elapsed)
                if status == 429:
                    RATE_LIMITED.labels(route).inc()
            if self.access and route != "/metrics":  # a scrape every 15 s is no news
                target = scope["path"]
                if query := scope.get("query_string"):
                    target += "?" + redact(query.decode("latin-1"))
                access_log.info("%s %s %d %.1f ms", scope["method"], target, status, elapsed * 1000)
            request_id_var.reset(token)


class AuditSealing:
    """Entries not sealed into the audit chain yet and the age of the oldest, read from
    the database at each scrape (once per scrape, whichever worker answers it)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def collect(self):
        with self.pool.connection(timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(at)), 0) AS lag"
                " FROM audit_log WHERE seq IS NULL"
            ).fetchone()
        return self.families(row["n"], float(row["lag"]))

    @staticmethod
    def families(unsealed: int = 0, lag_s: float = 0.0) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "gridcrew_audit_unsealed_entries",
                "Audit entries committed and not yet chained (sealed)",
                value=unsealed,
            ),
            GaugeMetricFamily(
                "gridcrew_audit_sealing_lag_seconds",
                "Age of the oldest audit entry not yet sealed (0 when all are)",
                value=lag_s,
            ),
        ]


def install(app: FastAPI, *, count: bool, access: bool) -> None:
    """Add the middleware and, when *count*, ``GET /metrics`` (not in the API schema)."""
    app.add_middleware(RequestMiddleware, count=count, access=access)
    if not count:
        return

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        body, content_type = shared.exposition([AuditSealing(request.app.state.pool)])
        return Response(body, media_type=content_type)
