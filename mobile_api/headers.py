"""Security headers on every response: no type sniffing, no framing, a content policy.

Pages (HTML) may load only what this server serves (plus map tiles over HTTPS, inline
styles, which Leaflet's markers use, and ``blob:`` images: the crew app's and the
customer page's photo thumbnails are object URLs of what they fetched or took);
everything else, photos, PDFs and JSON included, may run nothing (``default-src
'none'``), and a download whose bytes look like HTML (a JPEG+HTML polyglot) is never
rendered as a page (``nosniff``, and ``sandbox`` for images). The interactive API docs
keep FastAPI's own CDN assets and get no content policy. Scripts get the pages' policy:
a service worker (the crew app's, the customer page's) runs under its own script's.
This middleware never changes a body or a status.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
PAGE_POLICY = (
    b"default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline';"
    b" connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    b" frame-ancestors 'none'"
)
NOTHING_POLICY = b"default-src 'none'; frame-ancestors 'none'"
SCRIPT_TYPES = (b"text/javascript", b"application/javascript")
IMAGE_POLICY = NOTHING_POLICY + b"; sandbox"
DOCS_PATHS = ("/docs", "/redoc")


def policy(path: str, content_type: bytes) -> bytes | None:
    """The Content-Security-Policy of a response (None: none)."""
    if path.startswith(DOCS_PATHS):
        return None
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"text/html":
        return PAGE_POLICY
    if media in SCRIPT_TYPES:
        # a service worker runs under its own script's policy: it must reach this server
        return PAGE_POLICY
    if media.startswith(b"image/"):
        return IMAGE_POLICY
    return NOTHING_POLICY


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in ALWAYS if n not in present]
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                csp = policy(scope["path"], content_type)
                if csp is not None and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
