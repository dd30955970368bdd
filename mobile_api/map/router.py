"""``/map``: the page, its settings and its static files.

Leaflet is vendored into ``static/vendor`` by scripts/setup.d/map.sh.

Serves files only from this package's ``static`` folder; holds no data itself:
the page logs in and reads ``/v1/board`` and its stream.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from gridcrew.config import get_settings
from mobile_api import webfiles

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(tags=["map"])


@router.get("/map", include_in_schema=False)
def map_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/map/", include_in_schema=False)
def map_slash() -> RedirectResponse:
    return RedirectResponse("/map")


@router.get("/map/config.json")
def map_config() -> dict[str, str | None]:
    """The tile layer URL (none: the project's own layers on a plain background)."""
    return {"tile_url": get_settings().map_tile_url}


@router.get("/map/static/{path:path}", include_in_schema=False)
def static_file(path: str) -> FileResponse:
    return webfiles.static_file(STATIC, path, vendored_by="scripts/setup.d/map.sh")
