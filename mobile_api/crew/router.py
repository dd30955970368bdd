"""``/crew/``: the crew app's page, service worker, manifest, static files and rules;
``/v1/crew/plan/stream``: the crew's own job list, live.

Serves files only from this package's ``static`` folder. The stream takes the token
from the ``Authorization`` header (the page reads it with ``fetch``, not
``EventSource``), so no token ever appears in a URL or an access log.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from gridcrew.config import get_settings
from mobile_api import webfiles
from mobile_api.crew import stream
from mobile_api.deps import CrewUser, oauth2_scheme
from mobile_api.jobs import machine
from mobile_api.photos.service import STAGES

STATIC = Path(__file__).resolve().parent / "static"
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["crew app"])


@cache
def shell_version() -> str:
    """A digest of every static file: a new release gets a new service-worker cache."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@router.get("/crew", include_in_schema=False)
def crew_bare() -> RedirectResponse:
    return RedirectResponse("/crew/")


@router.get("/crew/", include_in_schema=False)
def crew_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=NO_CACHE)


@router.get("/crew/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The service worker, stamped with the shell's version (scope ``/crew/``)."""
    text = (STATIC / "sw.js").read_text(encoding="utf-8")
    return Response(
        text.replace("__SHELL_VERSION__", shell_version()),
        media_type="text/javascript",
        headers=NO_CACHE,
    )


@router.get("/crew/manifest.webmanifest", include_in_schema=False)
def manifest() -> FileResponse:
    return FileResponse(
        STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers=NO_CACHE
    )


@router.get("/crew/config.json")
def crew_config() -> dict[str, object]:
    """The rules the app applies offline, from the server's own definitions: the crew's
    status moves, which need a reason, the photo stages and the check-in radius."""
    return {
        "moves": {s: list(machine.allowed_moves(s)) for s in machine.STATUSES},
        "needs_reason": list(machine.NEEDS_REASON),
        "photo_stages": list(STAGES),
        "checkin_radius_m": get_settings().checkin_radius_m,
    }


@router.get("/crew/static/{path:path}", include_in_schema=False)
def static_file(path: str) -> FileResponse:
    return webfiles.static_file(
        STATIC, path, vendored_by="scripts/setup.d/crew.sh", headers=NO_CACHE
    )


def _token_expiry(token: Annotated[str | None, Depends(oauth2_scheme)]) -> float:
    """When the (already verified) access token expires."""
    claims = jwt.decode(token or "", options={"verify_signature": False})
    return float(claims["exp"])


@router.get("/v1/crew/plan/stream", tags=["jobs"])
def plan_stream(
    request: Request, user: CrewUser, expires_at: Annotated[float, Depends(_token_expiry)]
) -> StreamingResponse:
    """Server-sent events: ``plan`` with my jobs (as ``GET /v1/jobs``) now and whenever
    they change; ``expired`` when the access token runs out (refresh, reconnect)."""
    return StreamingResponse(
        stream.plan_events(request.app, user.crew_id or "", expires_at, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
