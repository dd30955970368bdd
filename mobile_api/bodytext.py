"""Text in a JSON request body must be Unicode that UTF-8 can carry.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``); Python decodes it into a string
that no UTF-8 encoder (psycopg's included) accepts, so it would surface deep in a
handler as a 500. This ASGI middleware answers such a body 422 before any handler runs.
Bodies are already bounded by :mod:`mobile_api.bodylimit`; a body without a surrogate
escape or byte (almost all) is only scanned, never parsed twice. It never changes a body.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mobile_api.problems import Problem, problem_response, response_of

_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
"""A surrogate escape, or the UTF-8-like bytes of one (which json.loads lets through)."""


def lone_surrogate(body: bytes) -> bool:
    """Whether the JSON *body* holds a string UTF-8 cannot encode (invalid JSON: False,
    the handler says why)."""
    if not _MAYBE_SURROGATE.search(body):
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class UnicodeText:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay([message]), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except Problem as refused:  # over the size limit, from the receive it wraps
            await response_of(refused)(scope, receive, send)
            return
        body = b"".join(chunks)
        if lone_surrogate(body):
            response = problem_response(
                422,
                "Invalid text",
                "a text field holds a lone UTF-16 surrogate (e.g. \\ud800), which is not a"
                " character; send valid Unicode",
                code="invalid_text",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive that hands out *messages*, then defers to *then* (a disconnect wait)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
