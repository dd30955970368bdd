"""What a photo is, from its bytes: type sniffing, EXIF GPS and time, thumbnail.

Pure functions over bytes or a seekable file; never trusts a file name or a
client's content type, and never decodes a pixel before the canvas size read from the
header is within bounds (a 600 KB PNG can declare 13000 x 13000 pixels, 676 MB as a
bitmap). Thumbnails decode at a reduced size (JPEG draft mode, at most 1/64 of the
pixels) so that a 10 MB photo never becomes a 100 MB bitmap. PNG and HEIC (what phones
take by default, through pillow-heif's Pillow plugin) decode at full size, so they get
a quarter of the pixel bound (:data:`FULL_DECODE_SHARE`); a larger one is kept without a
thumbnail. The callers bound how many decodes run at once. The HEIC plugin is loaded
with the first HEIC photo (about 3 MB of RSS a process that never sees one does not pay).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

from PIL import Image

HEAD_BYTES = 12
PREFIX_BYTES = 256 * 1024
"""Enough of a file for its canvas size: JPEG markers (EXIF, XMP, ICC) come before it."""
FULL_DECODE_SHARE = 4
"""PNG and HEIC decode whole: they may have 1/4 of the pixel bound to get a thumbnail."""
THUMBNAIL_PX = 320
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/heic": ".heic"}
# Pillow decodes a photo only as the type its bytes say (never tries every plugin)
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/heic": "HEIF"}


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes: JPEG, PNG or HEIC, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def canvas(prefix: bytes, content_type: str) -> tuple[int, int] | None:
    """Width and height an image declares in the first bytes of its file (nothing is
    decoded); None when they are not in *prefix*."""
    if content_type == "image/heic":
        return None  # pillow-heif reads the whole file; the bound is checked in inspect()
    try:
        with Image.open(io.BytesIO(prefix), formats=(_PILLOW_FORMATS[content_type],)) as image:
            return image.size
    except Exception:  # truncated before the size, or damaged: decided later, from the file
        return None


def decodable_pixels(content_type: str, max_pixels: int) -> int:
    """How many pixels of *content_type* may be decoded for a thumbnail."""
    return max_pixels if content_type == "image/jpeg" else max_pixels // FULL_DECODE_SHARE


@dataclass(frozen=True)
class Exif:
    lon: float | None = None
    lat: float | None = None
    time: datetime | None = None


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    ref = ref.decode() if isinstance(ref, bytes) else (ref or "")
    return -deg if ref.strip().upper() in ("S", "W") else deg


def _time(text, offset, local_zone: str) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        naive = datetime.strptime(text.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str):
        try:
            return datetime.fromisoformat(naive.isoformat() + offset.strip("\x00 "))
        except ValueError:
            pass
    return naive.replace(tzinfo=ZoneInfo(local_zone)).astimezone(UTC)


def read_exif(image: Image.Image, local_zone: str) -> Exif:
    """GPS position and time taken, when the camera wrote them. Cameras without an
    offset tag write local time: *local_zone* (the utility's) is assumed then."""
    exif = image.getexif()
    gps = exif.get_ifd(0x8825)
    sub = exif.get_ifd(0x8769)
    lat = _degrees(gps.get(2), gps.get(1)) if gps.get(2) else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps.get(4) else None
    if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
        lat = lon = None
    when = _time(sub.get(36867) or exif.get(306), sub.get(36881), local_zone)
    return Exif(lon, lat, when)


@dataclass(frozen=True)
class Inspection:
    exif: Exif
    thumbnail_jpeg: bytes | None
    readable: bool
    too_many_pixels: bool = False
    """Its canvas is over the photo bound: nothing was decoded (the upload is refused)."""


@functools.cache
def _register_heif() -> None:
    """pillow-heif's Pillow plugin, when the first HEIC is decoded (two first HEICs at
    once may both register it: harmless)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def inspect(file: BinaryIO, local_zone: str, max_pixels: int) -> Inspection:
    """EXIF and a JPEG thumbnail of a JPEG, PNG or HEIC photo; an image that does not
    decode is flagged by the caller (``readable`` False), never an error. Over
    *max_pixels* nothing is decoded; a PNG or HEIC over its share has no thumbnail."""
    content_type = sniff(file.read(HEAD_BYTES))
    file.seek(0)
    if content_type is None:
        return Inspection(Exif(), None, False)
    if content_type == "image/heic":
        _register_heif()
    try:
        with Image.open(file, formats=(_PILLOW_FORMATS[content_type],)) as image:
            pixels = image.width * image.height
            if pixels > max_pixels:
                return Inspection(Exif(), None, False, too_many_pixels=True)
            exif = read_exif(image, local_zone)
            if pixels > decodable_pixels(content_type, max_pixels):
                return Inspection(exif, None, True)
            image.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80)
            return Inspection(exif, out.getvalue(), True)
    except Exception:  # any decoder failure (truncated, bomb, unknown) is a flag, not a 500
        return Inspection(Exif(), None, False)
