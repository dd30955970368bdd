"""The one message catalogue of every page and message a person reads.

``zh-CN.json`` (the default) and ``en.json`` hold every string, keyed by
``<app>.<name>`` (``common.*``, ``map.*``, ``crew.*``, ``customer.*``,
``notify.*``, ``sheet.*``); the web pages fetch them from ``/i18n/<lang>.json``
and use ``/i18n/i18n.js`` (both served by ``mobile_api.i18n``); the server
(notifications, the sheet) uses ``t()``.
Times a person reads are in the utility's zone (``GRIDCREW_LOCAL_TIMEZONE``),
with a date when they are not today: ``format_local``.

Reads only its own files; never the database or the clock (``now`` is passed in).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def language(requested: str | None) -> str:
    """The catalogue language for a request (``en``, ``en-US``, ``zh``, ``zh-CN``, none)."""
    if requested and requested.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise KeyError(f"no catalogue for language {lang!r}; one of {', '.join(LANGUAGES)}")
    return json.loads((HERE / f"{lang}.json").read_text(encoding="utf-8"))


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: object) -> str:
    """The message ``key`` in ``lang``, with ``{name}`` placeholders filled from ``params``."""
    text = catalogue(language(lang)).get(key) or catalogue(DEFAULT_LANGUAGE)[key]
    return text.format(**params) if params else text


def format_local(at: datetime, zone: ZoneInfo, lang: str, now: datetime) -> str:
    """``14:05`` when ``at`` is today in ``zone``, else with its date (``12月7日 14:05`` /
    ``Dec 7 14:05``; with the year when it is not this year)."""
    local, today = at.astimezone(zone), now.astimezone(zone)
    hm = local.strftime("%H:%M")
    if local.date() == today.date():
        return hm
    if language(lang) == "en":
        day = local.strftime("%b ") + str(local.day)
        return f"{day}, {local.year} {hm}" if local.year != today.year else f"{day} {hm}"
    day = f"{local.month}月{local.day}日"
    return f"{local.year}年{day} {hm}" if local.year != today.year else f"{day} {hm}"
