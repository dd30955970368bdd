"""Keep an uploaded photo: content-addressed key, EXIF compared with the site, thumbnail.

The same bytes twice for one job are one photo (the second upload returns the
first). EXIF findings become flags on the photo; they never reject it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.db import notify_work_order
from mobile_api.checkins import geofence
from mobile_api.deps import JobAccess, User
from mobile_api.jobs.service import lock_job
from mobile_api.photos import inspect
from mobile_api.photos.upload import ReceivedFile
from mobile_api.problems import Problem
from mobile_api.storage import Storage

STAGES = ("survey", "construction", "completion")
EXIF_TIME_SLACK = timedelta(hours=1)
# Decoding is the memory-hungry step: a few at a time, whatever the number of uploads.
_decoders = threading.BoundedSemaphore(2)

_PHOTO_COLUMNS = (
    "id, work_order_id, stage, content_type, size_bytes, sha256, flags, exif_lon, exif_lat,"
    " exif_time, distance_m, uploaded_at, thumbnail_key IS NOT NULL AS has_thumbnail"
)


def exif_flags(
    exif: inspect.Exif,
    *,
    readable: bool,
    site: JobAccess,
    radius_m: float,
    now: datetime,
) -> tuple[list[str], float | None]:
    """Pure: what the photo's own metadata says about where and when it was taken."""
    if not readable:
        return ["exif_unreadable"], None
    flags: list[str] = []
    distance = None
    if exif.lon is None or exif.lat is None:
        flags.append("no_exif_gps")
    else:
        verdict = geofence.judge(
            site_lon=site.lon,
            site_lat=site.lat,
            site_polygon_wkt=site.site_polygon_wkt,
            lon=exif.lon,
            lat=exif.lat,
            accuracy_m=0,
            radius_m=radius_m,
        )
        distance = verdict.distance_m
        if not verdict.accepted:
            flags.append("exif_gps_off_site")
    if exif.time is None:
        flags.append("no_exif_time")
    elif exif.time < site.reported_at - EXIF_TIME_SLACK:
        flags.append("exif_time_before_job")
    elif exif.time > now + EXIF_TIME_SLACK:
        flags.append("exif_time_in_future")
    return flags, distance


def keep(
    conn: psycopg.Connection,
    storage: Storage,
    user: User,
    work_order_id: int,
    stage: str,
    received: ReceivedFile,
) -> tuple[int, dict[str, Any]]:
    """Store the photo's row (201) or return the existing one for the same bytes (200)."""
    if stage not in STAGES:
        raise Problem(422, "bad_stage", f"stage must be one of {', '.join(STAGES)}")
    site = lock_job(conn, work_order_id, user)
    existing = conn.execute(
        f"SELECT {_PHOTO_COLUMNS} FROM photos"  # noqa: S608 (constant column list)
        " WHERE work_order_id = %s AND sha256 = %s",
        (work_order_id, received.sha256),
    ).fetchone()
    upload = received.upload
    assert upload is not None and received.content_type is not None
    if existing is not None:
        return 200, existing  # the caller closes the upload: nothing more is stored
    key = f"jobs/{work_order_id}/{received.sha256}{inspect.EXTENSIONS[received.content_type]}"
    upload.commit(key)
    s = get_settings()
    with _decoders, upload.open() as f:
        found = inspect.inspect(f, s.dispatch_timezone)
    thumbnail_key = None
    if found.thumbnail_jpeg is not None:
        thumbnail_key = f"{key}.thumb.jpg"
        storage.put(thumbnail_key, found.thumbnail_jpeg)
    flags, distance = exif_flags(
        found.exif,
        readable=found.readable,
        site=site,
        radius_m=s.checkin_radius_m,
        now=datetime.now(UTC),
    )
    row = conn.execute(
        "INSERT INTO photos (work_order_id, crew_id, stage, content_type, size_bytes, sha256,"  # noqa: S608
        " storage_key, thumbnail_key, exif_lon, exif_lat, exif_time, distance_m, flags)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {_PHOTO_COLUMNS}",
        (
            work_order_id,
            user.crew_id,
            stage,
            received.content_type,
            received.size,
            received.sha256,
            key,
            thumbnail_key,
            found.exif.lon,
            found.exif.lat,
            found.exif.time,
            distance,
            flags,
        ),
    ).fetchone()
    notify_work_order(conn, work_order_id, "updated")
    # the audit entry last: its chain lock is held until commit
    audit.append(
        conn,
        actor=user.username,
        entity="work_order",
        entity_id=work_order_id,
        action="photo",
        payload={
            "photo_id": row["id"],
            "stage": stage,
            "sha256": received.sha256,
            "content_type": received.content_type,
            "size_bytes": received.size,
            "flags": flags,
        },
    )
    return 201, row


def photo_row(conn: psycopg.Connection, work_order_id: int, photo_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT content_type, storage_key, thumbnail_key FROM photos"
        " WHERE id = %s AND work_order_id = %s",
        (photo_id, work_order_id),
    ).fetchone()
    if row is None:
        raise Problem(404, "photo_not_found", f"job {work_order_id} has no photo {photo_id}")
    return row
