"""A size limit on every request body, per route, enforced while the body arrives.

ASGI middleware: it counts the bytes as the application reads them and raises a 413
Problem once a body passes its route's limit (or declares a larger Content-Length),
so no handler, JSON parser or multipart parser ever holds more than the limit. The
rest of a refused body is read and dropped (up to :data:`DRAIN_BYTES`), so the client
gets the answer rather than a broken pipe. It never decides anything else.

Not FastAPI's own ``max_body_size``: its refusal is a bare "Content Too Large" (no limit,
no problem code), the rest of the body is not read (a terminal mid-upload sees a broken
pipe), and per-route limits there are fixed when the routers are imported, where these
come from the settings when the app is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mobile_api.problems import Problem

DRAIN_BYTES = 64 * 1024 * 1024
"""After a refusal, at most this much more is read (and dropped) before answering."""
MULTIPART_SLACK = 64 * 1024
"""A photo upload's body beyond the photo itself: the part headers and the ``stage``."""
SIGNOFF_MAX_BYTES = 4 * 1024 * 1024
"""A sign-off: ``signature_png`` (at most 3,000,000 base64 characters) and its text."""


@dataclass(frozen=True)
class Limits:
    """Bytes a body may have: per route (a path pattern), else :attr:`default`."""

    default: int
    routes: tuple[tuple[re.Pattern[str], int], ...] = ()

    def of(self, path: str) -> int:
        for pattern, limit in self.routes:
            if pattern.fullmatch(path):
                return limit
        return self.default


def api_limits(*, json_max_bytes: int, sync_max_bytes: int, photo_max_bytes: int) -> Limits:
    """The API's routes: small for JSON, the photo limit for uploads, more for a sync batch."""
    return Limits(
        json_max_bytes,
        (
            (re.compile(r"/v1/jobs/[^/]+/photos"), photo_max_bytes + MULTIPART_SLACK),
            (re.compile(r"/v1/jobs/[^/]+/signoff"), max(json_max_bytes, SIGNOFF_MAX_BYTES)),
            (re.compile(r"/v1/sync"), sync_max_bytes),
        ),
    )


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body_too_large",
        f"the request body is larger than {limit} bytes, the limit of this route",
        title="Request body too large",
        limit_bytes=limit,
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(scope["path"])
        declared = _declared_length(scope)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if received > limit or (declared is not None and declared > limit):
                await _drain(receive, message)
                raise too_large(limit)
            return message

        await self.app(scope, limited, send)


async def _drain(receive: Receive, message: Message) -> None:
    dropped = 0
    while message.get("more_body") and dropped < DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
