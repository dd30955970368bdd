"""A crew's day, the pure part: street-like routes, driving speed, noisy GPS fixes, work
durations, who loses signal, survey photos with EXIF GPS and customer signatures.

No HTTP and no clock here: :mod:`simulators.crews` walks these plans against the API.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from gridcrew.grid import M_PER_DEG_LAT, m_per_deg_lon, offset

Point = tuple[float, float]  # lon, lat
SPEED_KMH = {"urban": 30.0, "rural": 55.0}
WORK_MEDIAN_MIN = {"fault_repair": 45.0, "meter_install": 60.0, "inspection": 20.0}
OFFLINE_SHARE = 0.25  # crews on weak rural signal: they work a job offline and sync later
EXIF_GPS_IFD = 0x8825


def distance_m(a: Point, b: Point) -> float:
    lat = (a[1] + b[1]) / 2
    return math.hypot((b[0] - a[0]) * m_per_deg_lon(lat), (b[1] - a[1]) * M_PER_DEG_LAT)


def heading_deg(a: Point, b: Point) -> float:
    lat = (a[1] + b[1]) / 2
    east, north = (b[0] - a[0]) * m_per_deg_lon(lat), (b[1] - a[1]) * M_PER_DEG_LAT
    return math.degrees(math.atan2(east, north)) % 360


def route(a: Point, b: Point, rng: random.Random) -> list[Point]:
    """A street-like way from *a* to *b*: alternating east-west and north-south blocks
    (a city grid), a few corners, ending exactly at *b*."""
    legs = max(1, min(4, int(distance_m(a, b) // 700) + 1))
    cuts = sorted(rng.uniform(0.15, 0.85) for _ in range(legs - 1))
    points = [a]
    lat = a[1]
    for f in [*cuts, 1.0]:
        lon = a[0] + (b[0] - a[0]) * f
        points.append((lon, lat))  # along an east-west street
        lat = a[1] + (b[1] - a[1]) * f
        points.append((lon, lat))  # then a north-south one
    return [p for i, p in enumerate(points) if i == 0 or distance_m(points[i - 1], p) > 0.5]


def length_m(path: list[Point]) -> float:
    return sum(distance_m(p, q) for p, q in zip(path, path[1:], strict=False))


def along(path: list[Point], d: float) -> tuple[Point, float]:
    """The point *d* metres along *path* and the heading there."""
    for p, q in zip(path, path[1:], strict=False):
        leg = distance_m(p, q)
        if d <= leg and leg > 0:
            f = d / leg
            return (p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f), heading_deg(p, q)
        d -= leg
    last = path[-1]
    return last, heading_deg(path[-2], last) if len(path) > 1 else 0.0


@dataclass(frozen=True)
class Fix:
    """One GPS fix as the handheld reports it."""

    t: float  # scenario seconds since departure
    lon: float
    lat: float
    accuracy_m: float
    speed_mps: float
    heading_deg: float


def gps_fix(true: Point, rng: random.Random) -> tuple[float, float, float]:
    """A noisy fix around *true*: (lon, lat, accuracy_m); now and then a poor one."""
    accuracy = rng.uniform(25, 60) if rng.random() < 0.05 else rng.uniform(3, 12)
    lon, lat = offset(true[0], true[1], rng.gauss(0, accuracy / 2), rng.gauss(0, accuracy / 2))
    return lon, lat, round(accuracy, 1)


def drive(
    path: list[Point], area_kind: str, rng: random.Random, fix_every_s: float = 15.0
) -> list[Fix]:
    """Fixes along *path* at a realistic speed (slower at corners, stop-and-go in town)."""
    cruise = SPEED_KMH.get(area_kind, 30.0) / 3.6
    total = length_m(path)
    fixes, d, t = [], 0.0, 0.0
    while d < total:
        v = max(1.5, cruise * rng.uniform(0.55, 1.15))
        d = min(total, d + v * fix_every_s)
        t += fix_every_s
        true, heading = along(path, d)
        lon, lat, acc = gps_fix(true, rng)
        fixes.append(Fix(t, lon, lat, acc, round(v, 1), round(heading, 1)))
    return fixes


def work_minutes(kind: str, rng: random.Random) -> float:
    return rng.lognormvariate(math.log(WORK_MEDIAN_MIN.get(kind, 40.0)), 0.35)


def works_offline(rng: random.Random) -> bool:
    return rng.random() < OFFLINE_SHARE


def ratings(rng: random.Random) -> dict[str, int]:
    """The customer's four-dimension evaluation (mostly satisfied, now and then not)."""
    unhappy = rng.random() < 0.08
    dims = ("attitude", "professional_skill", "response_speed", "process_standard")
    return {d: rng.randint(1, 3) if unhappy else rng.choice((4, 5, 5)) for d in dims}


def signature_strokes(rng: random.Random) -> list[list[list[float]]]:
    """A scrawled signature: a few pen strokes on a 300 x 100 pad."""
    strokes = []
    x = 20.0
    for _ in range(rng.randint(2, 4)):
        stroke, y = [], rng.uniform(40, 60)
        for _ in range(rng.randint(8, 16)):
            x += rng.uniform(3, 9)
            y = min(95.0, max(5.0, y + rng.uniform(-12, 12)))
            stroke.append([round(x, 1), round(y, 1)])
        strokes.append(stroke)
        x += rng.uniform(5, 15)
    return strokes


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    return float(deg), float(minutes), round((value - deg - minutes / 60) * 3600, 4)


def survey_photo(lon: float, lat: float, label: str, rng: random.Random) -> bytes:
    """A small JPEG of a 'pole and line' scene with the fix in its EXIF GPS tags."""
    img = Image.new("RGB", (320, 240), (rng.randint(90, 140), rng.randint(140, 190), 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 170, 320, 240), fill=(80, 120 + rng.randint(0, 40), 60))
    pole = rng.randint(120, 200)
    draw.rectangle((pole, 40, pole + 8, 200), fill=(110, 90, 70))
    draw.line((0, 60, 320, 70 + rng.randint(-10, 10)), fill=(30, 30, 30), width=2)
    draw.text((8, 8), label[:40], fill=(255, 255, 255))
    exif = Image.Exif()
    gps = exif.get_ifd(EXIF_GPS_IFD)
    gps[1] = "N" if lat >= 0 else "S"
    gps[2] = _dms(lat)
    gps[3] = "E" if lon >= 0 else "W"
    gps[4] = _dms(lon)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, exif=exif)
    return buf.getvalue()


def photo_position(jpeg: bytes) -> Point:
    """The (lon, lat) in a JPEG's EXIF GPS tags (what the API will read back)."""
    gps = Image.open(io.BytesIO(jpeg)).getexif().get_ifd(EXIF_GPS_IFD)

    def deg(dms, ref) -> float:
        d, m, s = (float(x) for x in dms)
        return (d + m / 60 + s / 3600) * (-1 if ref in ("S", "W") else 1)

    return deg(gps[4], gps[3]), deg(gps[2], gps[1])


@dataclass(frozen=True)
class JobPlan:
    """Everything random about one crew doing one job, fixed by seed, crew and job."""

    path: list[Point]
    fixes: list[Fix]
    work_min: float
    offline: bool
    arrival: tuple[float, float, float]  # the check-in fix: lon, lat, accuracy
    strokes: list[list[list[float]]]
    ratings: dict[str, int]


def job_plan(rng: random.Random, start: Point, site: Point, area_kind: str, kind: str) -> JobPlan:
    path = route(start, site, rng)
    fixes = drive(path, area_kind, rng)
    lon, lat = offset(site[0], site[1], rng.gauss(0, 4), rng.gauss(0, 4))
    return JobPlan(
        path=path,
        fixes=fixes,
        work_min=work_minutes(kind, rng),
        offline=works_offline(rng),
        arrival=(lon, lat, round(rng.uniform(3, 8), 1)),
        strokes=signature_strokes(rng),
        ratings=ratings(rng),
    )
