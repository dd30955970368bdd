"""The service confirmation sheet (服务确认单) as a PDF, rendered once at sign-off and kept.

Chinese labels with English beside them, every text in a CJK TrueType font embedded as a
subset (WenQuanYi Micro Hei from Debian's fonts-wqy-microhei, installed by
``scripts/setup.d/sheet.sh``), so the PDF reads the same on a machine without CJK fonts.
``store_sheet`` renders inside the sign-off's transaction and records the file; every later
read gets those bytes (``stored_sheet``), never a new rendering: the signed record is
immutable. reportlab is imported by the first sheet, not by the API's startup.
"""

from __future__ import annotations

import functools
import hashlib
import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from gridcrew.config import get_settings
from gridcrew.i18n import t
from mobile_api.storage import Storage, get_storage

if TYPE_CHECKING:
    from reportlab.platypus import Image

TEXT_FONT = "GridCrewCJK"
# TrueType (glyf) CJK fonts of Debian's packages; reportlab cannot embed CFF (Noto CJK .otf).
FONT_FILES = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
MAX_PHOTOS = 6


class NotSignedOff(LookupError):
    """The job has no sign-off yet, so there is no sheet."""


class FontMissing(RuntimeError):
    """No CJK TrueType font is installed."""


@functools.cache
def register_font() -> str:
    """Register the first CJK TrueType font found; its reportlab name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for path, index in FONT_FILES:
        if Path(path).exists():
            pdfmetrics.registerFont(TTFont(TEXT_FONT, path, subfontIndex=index))
            return TEXT_FONT
    raise FontMissing(
        "no CJK TrueType font for the confirmation sheet; install Debian's fonts-wqy-microhei"
        " (scripts/setup.d/sheet.sh does)"
    )


def label(key: str) -> str:
    """``中文 English`` of a ``sheet.*`` key."""
    return f"{t(key, 'zh-CN')}  {t(key, 'en')}"


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"


def _load(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    job = cur.execute(
        "SELECT w.id, w.number, w.kind, w.address, w.description, w.reported_at,"
        " w.arrival_deadline, w.window_start, w.window_end, w.arrived_at, w.work_done_at,"
        " w.application_number, c.name AS customer, s.customer_name, s.signed_at,"
        " s.work_summary, s.signature_key, s.signature_sha256, s.comment, r.attitude,"
        " r.professional_skill, r.response_speed, r.process_standard"
        " FROM work_orders w JOIN signoffs s ON s.work_order_id = w.id"
        " JOIN ratings r ON r.work_order_id = w.id AND r.stage = 'completion'"
        " LEFT JOIN customers c ON c.id = w.customer_id WHERE w.id = %s",
        (work_order_id,),
    ).fetchone()
    if job is None:
        raise NotSignedOff(f"job {work_order_id} is not signed off")
    job["crews"] = cur.execute(
        "SELECT c.id, c.name, coalesce(array(SELECT m.name FROM crew_members m"
        "  WHERE m.crew_id = c.id ORDER BY m.role = 'leader' DESC, m.name), '{}') AS members"
        " FROM crews c WHERE c.id IN (SELECT crew_id FROM work_order_transitions"
        "  WHERE work_order_id = %s AND crew_id IS NOT NULL) ORDER BY c.id",
        (work_order_id,),
    ).fetchall()
    job["photos"] = cur.execute(
        "SELECT id, stage, thumbnail_key, flags, uploaded_at FROM photos"
        " WHERE work_order_id = %s AND thumbnail_key IS NOT NULL"
        " ORDER BY stage = 'survey' DESC, id LIMIT %s",
        (work_order_id, MAX_PHOTOS),
    ).fetchall()
    return job


def _image(storage: Storage, key: str, width: float, height: float) -> Image:
    from reportlab.platypus import Image

    image = Image(io.BytesIO(storage.read(key)))
    scale = min(width / image.imageWidth, height / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return image


def _flags(flags: list[str]) -> str:
    if not flags:
        return label("sheet.flag.none")
    return "; ".join(label(f"sheet.flag.{f}") if f in _FLAG_KEYS else f for f in flags)


_FLAG_KEYS = (
    "no_exif_gps",
    "exif_gps_off_site",
    "no_exif_time",
    "exif_time_before_job",
    "exif_time_in_future",
)


def render_sheet(
    conn: psycopg.Connection, work_order_id: int, *, storage: Storage | None = None
) -> bytes:
    """The PDF bytes of a new rendering of the job's sheet (NotSignedOff otherwise).

    Only :func:`store_sheet` should call this for a customer: a sheet is rendered once."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = register_font()
    job = _load(conn, work_order_id)
    storage = storage or get_storage()
    settings = get_settings()
    zone = settings.local_zone
    text = ParagraphStyle("value", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    small = ParagraphStyle("small", parent=text, fontSize=8, leading=11)
    title = ParagraphStyle("title", parent=text, fontSize=18, leading=24, alignment=1)
    heading = ParagraphStyle("heading", parent=text, fontSize=12, leading=18, spaceBefore=4)

    def p(value: Any, style: ParagraphStyle = text) -> Paragraph:
        shown = str(value if value not in (None, "") else "-")
        return Paragraph(shown.replace("&", "&amp;").replace("<", "&lt;"), style)

    def table(rows: list[tuple[str, Any]]) -> Table:
        out = Table([[p(label(k)), p(v)] for k, v in rows], colWidths=[55 * mm, 115 * mm])
        out.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return out

    kind_key = f"sheet.kind.{job['kind']}"
    crews = "; ".join(f"{c['name']}: {', '.join(c['members']) or '-'}" for c in job["crews"])
    if job["window_start"] is not None:
        promise = (
            "sheet.appointment_window",
            f"{_when(job['window_start'], zone)} - {_when(job['window_end'], zone)[-5:]}",
        )
    else:
        promise = ("sheet.arrival_deadline", _when(job["arrival_deadline"], zone))
    offset = datetime.now(zone).strftime("%z")
    story: list[Any] = [
        p(label("sheet.title"), title),
        p(f"{label('sheet.work_order')}: {job['number']}  ({label(kind_key)})"),
        p(
            f"{label('sheet.time_zone')}: {settings.local_timezone} (UTC{offset[:3]}:{offset[3:]})",
            small,
        ),
        Spacer(1, 4 * mm),
        table(
            [
                ("sheet.customer", job["customer"]),
                ("sheet.address", job["address"]),
                ("sheet.application", job["application_number"]),
                ("sheet.work_requested", job["description"]),
                ("sheet.work_done", job["work_summary"]),
                ("sheet.crew", crews),
            ]
        ),
        Spacer(1, 4 * mm),
        table(
            [
                ("sheet.reported", _when(job["reported_at"], zone)),
                promise,
                ("sheet.arrived", _when(job["arrived_at"], zone)),
                ("sheet.completed", _when(job["work_done_at"], zone)),
                ("sheet.signed", _when(job["signed_at"], zone)),
            ]
        ),
        Spacer(1, 4 * mm),
        table(
            [
                ("sheet.attitude", f"{job['attitude']} / 5"),
                ("sheet.professional_skill", f"{job['professional_skill']} / 5"),
                ("sheet.response_speed", f"{job['response_speed']} / 5"),
                ("sheet.process_standard", f"{job['process_standard']} / 5"),
                ("sheet.comment", job["comment"]),
            ]
        ),
    ]
    if job["photos"]:
        cells: list[Any] = [
            [
                _image(storage, ph["thumbnail_key"], 52 * mm, 38 * mm),
                p(f"#{ph['id']} {label('sheet.stage.' + ph['stage'])}", small),
                p(_flags(ph["flags"]), small),
            ]
            for ph in job["photos"]
        ]
        cells += [[Spacer(1, 1)]] * (-len(cells) % 3)  # a string cell would pull in Helvetica
        rows = [cells[i : i + 3] for i in range(0, len(cells), 3)]
        story += [Spacer(1, 4 * mm), p(label("sheet.photos"), heading)]
        photos = Table(rows, colWidths=[57 * mm] * 3)
        photos.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font)]))
        story.append(photos)
    story += [
        Spacer(1, 4 * mm),
        p(label("sheet.signature"), heading),
        _image(storage, job["signature_key"], 90 * mm, 30 * mm),
        p(f"{job['customer_name']}, {_when(job['signed_at'], zone)}"),
        p(f"{label('sheet.signature_sha256')}: {job['signature_sha256']}", small),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"服务确认单 Service confirmation {job['number']}",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        invariant=True,
        initialFontName=font,  # else the canvas's default Helvetica is referenced, unembedded
    ).build(story)
    return out.getvalue()


def store_sheet(conn: psycopg.Connection, storage: Storage, work_order_id: int) -> dict[str, Any]:
    """Render the sheet once, keep the file and record it (inside the caller's transaction);
    the row of the sheet kept, this one or one kept before."""
    pdf = render_sheet(conn, work_order_id, storage=storage)
    digest = hashlib.sha256(pdf).hexdigest()
    key = f"sheets/{work_order_id}/{digest}.pdf"
    storage.put(key, pdf)
    conn.execute(
        "INSERT INTO signoff_sheets (work_order_id, storage_key, sha256, size_bytes)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (work_order_id) DO NOTHING",
        (work_order_id, key, digest, len(pdf)),
    )
    return conn.execute(
        "SELECT * FROM signoff_sheets WHERE work_order_id = %s", (work_order_id,)
    ).fetchone()


def stored_sheet(
    conn: psycopg.Connection, work_order_id: int, *, storage: Storage | None = None
) -> bytes:
    """The kept PDF of a signed-off job (NotSignedOff otherwise). A job signed off before
    sheets were kept gets its one rendering now."""
    storage = storage or get_storage()
    row = conn.execute(
        "SELECT storage_key FROM signoff_sheets WHERE work_order_id = %s", (work_order_id,)
    ).fetchone()
    if row is None:
        with conn.transaction():
            row = store_sheet(conn, storage, work_order_id)
    return storage.read(row["storage_key"])
