"""Keep an uploaded photo: content-addressed key, EXIF compared with the site, thumbnail.

Three steps: :func:`worth_storing` (a plain read), :func:`store` (the slow part:
storage and decoding, holding no lock), :func:`keep` (the row, under a brief lock
of the job). The same bytes twice for one job are one photo (the second upload
returns the first). EXIF findings become flags on the photo; they never reject it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.db import notify_work_order
from mobile_api.checkins import geofence
from mobile_api.deps import JobAccess, User, job_access
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


@dataclass(frozen=True)
class Stored:
    """A photo committed to storage and inspected: what its row needs."""

    key: str
    thumbnail_key: str | None
    found: inspect.Inspection


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


def too_many_pixels(max_pixels: int) -> Problem:
    return Problem(
        422,
        "photo_too_many_pixels",
        f"the photo's canvas has more than {max_pixels} pixels; send it at a lower resolution",
        max_pixels=max_pixels,
    )


def _existing(conn: psycopg.Connection, work_order_id: int, sha256: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_PHOTO_COLUMNS} FROM photos"  # noqa: S608 (constant column list)
        " WHERE work_order_id = %s AND sha256 = %s",
        (work_order_id, sha256),
    ).fetchone()


def worth_storing(
    conn: psycopg.Connection, user: User, work_order_id: int, stage: str, received: ReceivedFile
) -> bool:
    """Whether the photo should be stored before :func:`keep` decides: a plain read, no
    lock. False when the answer cannot be a new photo as things stand: a bad stage, a
    job the crew does not hold (any more: the body may take minutes to arrive), the
    same bytes already kept for the job. It only spares the store; :func:`keep` gives
    the answer, under the job's lock."""
    if stage not in STAGES:
        return False
    try:
        job_access(conn, work_order_id, user, write=True)
    except Problem:
        return False
    return _existing(conn, work_order_id, received.sha256) is None


def store(storage: Storage, work_order_id: int, received: ReceivedFile) -> Stored:
    """The slow part, run holding no lock (and by the route, no connection): commit the
    bytes to storage under their content-addressed key (for S3 a PutObject of up to
    the size limit), decode them for EXIF and a thumbnail, store the thumbnail.

    Two identical uploads at once both store the same bytes under the same key (a
    rename or PutObject of identical content: harmless); :func:`keep` makes them one
    photo."""
    upload = received.upload
    assert upload is not None and received.content_type is not None
    key = f"jobs/{work_order_id}/{received.sha256}{inspect.EXTENSIONS[received.content_type]}"
    upload.commit(key)
    s = get_settings()
    with _decoders, upload.open() as f:
        found = inspect.inspect(f, s.local_timezone, s.photo_max_pixels)
    thumbnail_key = None
    if found.thumbnail_jpeg is not None:
        thumbnail_key = f"{key}.thumb.jpg"
        storage.put(thumbnail_key, found.thumbnail_jpeg)
    return Stored(key, thumbnail_key, found)


def keep(
    conn: psycopg.Connection,
    storage: Storage,
    user: User,
    work_order_id: int,
    stage: str,
    received: ReceivedFile,
    stored: Stored | None,
) -> tuple[int, dict[str, Any]]:
    """In the caller's transaction: the photo's row (201), or the existing row of the
    same bytes (200). *stored* is :func:`store`'s result, None when
    :func:`worth_storing` said no.

    The job is locked only here, for the few statements of the insert, and ``FOR KEY
    SHARE`` as a check-in locks it: photos and check-ins do not wait for each other, a
    status change or a reassignment (``FOR UPDATE``) waits for the insert and the
    insert for it, so the crew still holds the job when its photo is kept. A photo
    refused here (the job was reassigned while it was stored) has no row: its object
    stays in storage unreferenced (not deleted: an identical upload by the crew now
    holding the job may be storing the same key at this moment)."""
    if stage not in STAGES:
        raise Problem(422, "bad_stage", f"stage must be one of {', '.join(STAGES)}")
    site = lock_job(conn, work_order_id, user, "key share")
    existing = _existing(conn, work_order_id, received.sha256)
    if existing is not None:
        return 200, existing  # the caller closes the upload: nothing more is stored
    if stored is None:
        # worth_storing said no and the job is the crew's after all (given back while
        # the photo arrived): stored now, under the lock; rare
        stored = store(storage, work_order_id, received)
    s = get_settings()
    if stored.found.too_many_pixels:  # not seen in the first bytes (HEIC): seen decoding
        raise too_many_pixels(s.photo_max_pixels)
    flags, distance = exif_flags(
        stored.found.exif,
        readable=stored.found.readable,
        site=site,
        radius_m=s.checkin_radius_m,
        now=datetime.now(UTC),
    )
    row = conn.execute(
        "INSERT INTO photos (work_order_id, crew_id, stage, content_type, size_bytes, sha256,"  # noqa: S608
        " storage_key, thumbnail_key, exif_lon, exif_lat, exif_time, distance_m, flags)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (work_order_id, sha256) DO NOTHING"
        f" RETURNING {_PHOTO_COLUMNS}",
        (
            work_order_id,
            user.crew_id,
            stage,
            received.content_type,
            received.size,
            received.sha256,
            stored.key,
            stored.thumbnail_key,
            stored.found.exif.lon,
            stored.found.exif.lat,
            stored.found.exif.time,
            distance,
            flags,
        ),
    ).fetchone()
    if row is None:
        # the same bytes uploaded at the same time: the insert waited for the other's
        # commit; the next statement (read committed) sees its row
        existing = _existing(conn, work_order_id, received.sha256)
        assert existing is not None
        return 200, existing
    notify_work_order(conn, work_order_id, "updated")
    # the audit entry: a plain INSERT in this transaction, no lock (gridcrew.audit);
    # the API's sealer chains it once committed
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
