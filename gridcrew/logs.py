"""The one logging setup of every GridCrew process (services, simulators, CLI).

Standard-library ``logging`` throughout: modules log with ``logging.getLogger(__name__)``
and call nothing here but :func:`setup` (once, in their process's entry point) and
:func:`request_id_var` (the API's request middleware). Lines are readable text on a
terminal by default, JSON objects with ``GRIDCREW_LOG_FORMAT=json``
(python-json-logger: a ``logging.Formatter`` and nothing else, so the code keeps
the stdlib API; structlog would bring a second logging API to learn and to keep
consistent with the libraries that log through stdlib anyway, uvicorn and psycopg).

Never lets a secret through: the formatters mask bearer tokens, ``access_token`` /
``token`` / ``password`` query or form values and JWTs in every finished line (message,
arguments and traceback; so also in uvicorn's access lines, if someone turns those on).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "gridcrew_request_id", default=None
)
"""The API request being served (set by ``mobile_api.metrics``); ``-`` outside a request."""

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(service)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s"
JSON_RENAME = {"asctime": "time", "levelname": "level", "name": "logger"}

_SECRET_PATTERNS = [
    # ?access_token=..., &token=..., password=... in query strings and form bodies
    (re.compile(r"(?i)\b((?:access_|refresh_)?token|password|secret)=([^&\s\"']+)"), r"\1=***"),
    # Authorization: Bearer ...
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    # a JWT anywhere (three base64url parts, the first a JSON header)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "***"),
]


def redact(text: str) -> str:
    """*text* with every token, password and JWT in it masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Adds ``request_id`` and ``service`` to each record for the formatters (the
    formatters of :func:`formatter` mask the secrets)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        record.service = self.service
        return True


class _Masking(logging.Formatter):
    """Another formatter's finished line with its secrets masked: message, arguments and
    traceback alike (a placeholder's value may be the secret, or complete one)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def formatter(fmt: str) -> logging.Formatter:
    """The formatter of ``GRIDCREW_LOG_FORMAT`` (*fmt*: ``text`` or ``json``), masking."""
    if fmt == "json":
        return _Masking(JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAME, timestamp=False))
    return _Masking(logging.Formatter(TEXT_FORMAT))


def setup(service: str, *, fmt: str | None = None, level: str | None = None) -> None:
    """Send every logger's records to stderr in the configured format (idempotent: a
    second call replaces the first's handler). *service* names the process in each line."""
    from gridcrew.config import get_settings

    s = get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt or s.log_format))
    handler.addFilter(Redact(service))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_gridcrew", False)]:
        root.removeHandler(old)
    handler._gridcrew = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel((level or s.log_level).upper())
    # one line per HTTP request a simulated crew makes is noise: their failures still show
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # uvicorn's own loggers propagate to ours instead of printing in their format
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
