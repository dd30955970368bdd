"""``/c/``: the customer page (no account) and the two things only it needs from the API:
the planned outages of the customer's meters and a browser's Web Push subscription.

Both go through ``TrackedSubject`` (number + last four phone digits, rate-limited, one
uniform answer for a wrong pair), as every customer route does. Serves files only from
this package's ``static`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field, field_validator

from gridcrew.config import get_settings
from mobile_api import webfiles
from mobile_api.customer import service
from mobile_api.deps import DbConn
from mobile_api.notifications import vapid
from mobile_api.track.deps import TrackedSubject

STATIC = Path(__file__).resolve().parent / "static"
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["customers"])


@router.get("/c", include_in_schema=False)
def page_no_slash() -> RedirectResponse:
    return RedirectResponse("/c/")


@router.get("/c/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=_NO_CACHE)


@router.get("/c/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    """The push service worker, served from /c/ so that its scope is the page."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=_NO_CACHE)


@router.get("/c/static/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    return webfiles.static_file(STATIC, name, headers=_NO_CACHE)


@router.get("/v1/customer/push-key")
def push_key() -> dict[str, str]:
    """The VAPID public key a browser subscribes with (``applicationServerKey``)."""
    return {"public_key": vapid.public_key(get_settings())}


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=20, max_length=200, pattern=r"^[A-Za-z0-9_\-=]+$")
    auth: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-=]+$")


class PushSubscription(BaseModel):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: Annotated[str, Field(max_length=1000)]
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("a push endpoint is an https:// URL of the browser's push service")
        return endpoint


@router.post("/v1/customer/{number}/push-subscriptions", status_code=201)
def subscribe(
    number: str, body: PushSubscription, subject: TrackedSubject, conn: DbConn
) -> dict[str, Any]:
    """Send this customer's updates to this browser too (Web Push)."""
    with conn.transaction():
        return service.subscribe(
            conn,
            customer_id=subject.customer_id,
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
        )


@router.get("/v1/customer/{number}/planned-outages")
def planned_outages(
    number: str, subject: TrackedSubject, conn: DbConn, response: Response
) -> list[dict[str, Any]]:
    """Planned outages ahead (not cancelled, not over) that cut the customer's meters."""
    response.headers["Cache-Control"] = "private, no-store"
    return service.planned_outages(conn, subject.customer_id)
