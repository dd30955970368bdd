"""The service confirmation sheet as a PDF: job, times, photos, signature, ratings.

``render_sheet(conn, work_order_id)`` is a plain function (the customer-lookup
side calls it too); it only reads, from the database and from photo storage.
reportlab is imported by the first sheet, not by the API's startup: about 4 MB of
RSS that a process rendering no sheet does not pay.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from gridcrew.config import get_settings
from mobile_api.storage import Storage, get_storage

if TYPE_CHECKING:
    from reportlab.platypus import Image

# Customers write their names in Chinese as often as not: a CID font every PDF reader has.
TEXT_FONT = "STSong-Light"
MAX_PHOTOS = 6


@functools.cache
def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(TEXT_FONT))


class NotSignedOff(LookupError):
    """The job has no sign-off yet, so there is no sheet."""


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"


def _load(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    job = cur.execute(
        "SELECT w.id, w.number, w.kind, w.address, w.description, w.reported_at,"
        " w.arrival_deadline, w.arrived_at, w.work_done_at, w.application_number,"
        " c.name AS customer, s.customer_name, s.signed_at, s.work_summary, s.signature_key,"
        " s.signature_sha256, s.comment, r.attitude, r.professional_skill, r.response_speed,"
        " r.process_standard"
        " FROM work_orders w JOIN signoffs s ON s.work_order_id = w.id"
        " JOIN ratings r ON r.work_order_id = w.id AND r.stage = 'completion'"
        " LEFT JOIN customers c ON c.id = w.customer_id WHERE w.id = %s",
        (work_order_id,),
    ).fetchone()
    if job is None:
        raise NotSignedOff(f"job {work_order_id} is not signed off")
    job["crew"] = cur.execute(
        "SELECT string_agg(DISTINCT crew_id, ', ') AS crews FROM work_order_transitions"
        " WHERE work_order_id = %s",
        (work_order_id,),
    ).fetchone()["crews"]
    job["photos"] = cur.execute(
        "SELECT thumbnail_key FROM photos WHERE work_order_id = %s"
        " AND thumbnail_key IS NOT NULL ORDER BY stage = 'survey' DESC, id LIMIT %s",
        (work_order_id, MAX_PHOTOS),
    ).fetchall()
    return job


def _image(storage: Storage, key: str, width: float, height: float) -> Image:
    from reportlab.platypus import Image

    image = Image(io.BytesIO(storage.read(key)))
    scale = min(width / image.imageWidth, height / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return image


def render_sheet(
    conn: psycopg.Connection, work_order_id: int, *, storage: Storage | None = None
) -> bytes:
    """The PDF bytes of the job's service confirmation sheet (NotSignedOff otherwise).

    *storage* defaults to the configured photo storage."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    job = _load(conn, work_order_id)
    storage = storage or get_storage()
    zone = get_settings().local_zone
    styles = getSampleStyleSheet()
    text = ParagraphStyle("value", parent=styles["BodyText"], fontName=TEXT_FONT, fontSize=10)

    def p(value: Any) -> Paragraph:
        return Paragraph(
            str(value if value not in (None, "") else "-")
            .replace("&", "&amp;")
            .replace("<", "&lt;"),
            text,
        )

    def table(rows: list[list[Any]], widths: list[float]) -> Table:
        t = Table(rows, colWidths=widths)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    story: list[Any] = [
        Paragraph("Service confirmation sheet", styles["Title"]),
        p(f"Work order {job['number']} ({job['kind'].replace('_', ' ')})"),
        Spacer(1, 4 * mm),
        table(
            [
                ["Customer", p(job["customer"])],
                ["Address", p(job["address"])],
                ["Application", p(job["application_number"])],
                ["Work requested", p(job["description"])],
                ["Work done", p(job["work_summary"])],
                ["Crew", p(job["crew"])],
            ],
            [40 * mm, 130 * mm],
        ),
        Spacer(1, 4 * mm),
        table(
            [
                ["Reported", p(_when(job["reported_at"], zone))],
                ["Arrival deadline", p(_when(job["arrival_deadline"], zone))],
                ["Arrived on site", p(_when(job["arrived_at"], zone))],
                ["Work done", p(_when(job["work_done_at"], zone))],
                ["Signed", p(_when(job["signed_at"], zone))],
            ],
            [40 * mm, 130 * mm],
        ),
        Spacer(1, 4 * mm),
        table(
            [
                ["Attitude", p(f"{job['attitude']} / 5")],
                ["Professional skill", p(f"{job['professional_skill']} / 5")],
                ["Response speed", p(f"{job['response_speed']} / 5")],
                ["Process standard", p(f"{job['process_standard']} / 5")],
                ["Comment", p(job["comment"])],
            ],
            [40 * mm, 130 * mm],
        ),
    ]
    if job["photos"]:
        images: list[Any] = [
            _image(storage, ph["thumbnail_key"], 52 * mm, 40 * mm) for ph in job["photos"]
        ]
        images += [""] * (-len(images) % 3)
        rows = [images[i : i + 3] for i in range(0, len(images), 3)]
        story += [Spacer(1, 4 * mm), Paragraph("Photos", styles["Heading3"])]
        story.append(Table(rows, colWidths=[57 * mm] * 3))
    story += [
        Spacer(1, 4 * mm),
        Paragraph("Customer signature", styles["Heading3"]),
        _image(storage, job["signature_key"], 90 * mm, 30 * mm),
        p(f"{job['customer_name']}, {_when(job['signed_at'], zone)}"),
        p(f"signature SHA-256 {job['signature_sha256']}"),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Service confirmation {job['number']}",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    ).build(story)
    return out.getvalue()
