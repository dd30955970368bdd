"""``/i18n``: the catalogues, the pages' loader script and the utility's locale.

Public (the login page needs them); serves only the catalogue's files and this package's.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gridcrew.config import get_settings
from gridcrew.i18n import DEFAULT_LANGUAGE, HERE, LANGUAGES
from mobile_api.problems import Problem

SCRIPT = Path(__file__).resolve().parent / "i18n.js"

router = APIRouter(tags=["i18n"])


@router.get("/i18n/locale.json")
def locale() -> dict[str, object]:
    """The utility's time zone and the languages there are catalogues for."""
    return {
        "time_zone": get_settings().local_timezone,
        "languages": list(LANGUAGES),
        "default": DEFAULT_LANGUAGE,
    }


@router.get("/i18n/i18n.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/i18n/{lang}.json")
def messages(lang: str) -> FileResponse:
    """Every string of the pages in ``lang`` (``zh-CN`` or ``en``)."""
    if lang not in LANGUAGES:
        raise Problem(
            404, "no_catalogue", f"no catalogue for {lang!r}; one of {', '.join(LANGUAGES)}"
        )
    return FileResponse(
        HERE / f"{lang}.json", media_type="application/json", headers={"Cache-Control": "no-cache"}
    )
