"""The crews' pure logic: street-like routes, realistic driving, noisy fixes, work times,
offline share, photos with EXIF GPS, deterministic plans."""

from __future__ import annotations

import io
import statistics

from PIL import Image

from simulators.fieldwork import (
    M_PER_DEG_LAT,
    WORK_MEDIAN_MIN,
    distance_m,
    drive,
    gps_fix,
    job_plan,
    length_m,
    photo_position,
    ratings,
    route,
    signature_strokes,
    survey_photo,
    work_minutes,
    works_offline,
)
from simulators.seeding import rng_for

DEPOT = (120.758, 30.748)
SITE = (120.79, 30.77)


def test_route_is_a_street_grid_path_to_the_site():
    rng = rng_for(1, "route")
    path = route(DEPOT, SITE, rng)
    assert path[0] == DEPOT and path[-1] == SITE
    for p, q in zip(path, path[1:], strict=False):
        assert p[0] == q[0] or p[1] == q[1], "every block runs east-west or north-south"
    straight = distance_m(DEPOT, SITE)
    assert straight < length_m(path) <= 1.5 * straight
    assert len(path) >= 4


def test_driving_speed_and_fixes_are_realistic():
    rng = rng_for(1, "drive")
    path = route(DEPOT, SITE, rng)
    for kind, top in (("urban", 40), ("rural", 70)):
        fixes = drive(path, kind, rng)
        speeds = [f.speed_mps * 3.6 for f in fixes]
        assert all(5 <= s <= top for s in speeds)
        assert [f.t for f in fixes] == sorted(f.t for f in fixes)
        minutes = fixes[-1].t / 60
        assert length_m(path) / 1000 / (top / 60) < minutes < 60
        assert distance_m((fixes[-1].lon, fixes[-1].lat), SITE) < 3 * fixes[-1].accuracy_m + 5


def test_gps_noise_matches_the_reported_accuracy():
    rng = rng_for(1, "gps")
    errors, accs = [], []
    for _ in range(2000):
        lon, lat, acc = gps_fix(SITE, rng)
        errors.append(distance_m((lon, lat), SITE))
        accs.append(acc)
    assert 3 <= min(accs) and max(accs) <= 60
    assert 0.01 < sum(1 for a in accs if a > 20) / len(accs) < 0.1
    assert statistics.median(errors) < statistics.median(accs)
    assert max(errors) < 200


def test_work_times_offline_share_and_ratings():
    rng = rng_for(1, "work")
    times = [work_minutes("fault_repair", rng) for _ in range(2000)]
    assert abs(statistics.median(times) - WORK_MEDIAN_MIN["fault_repair"]) < 5
    assert min(times) > 10 and max(times) < 200
    offline = sum(works_offline(rng) for _ in range(2000)) / 2000
    assert 0.18 < offline < 0.32
    r = ratings(rng)
    assert set(r) == {"attitude", "professional_skill", "response_speed", "process_standard"}
    assert all(1 <= v <= 5 for v in r.values())
    strokes = signature_strokes(rng)
    assert 2 <= len(strokes) <= 4 and all(len(s) >= 8 for s in strokes)


def test_survey_photo_is_a_jpeg_with_its_gps_fix():
    jpeg = survey_photo(SITE[0], SITE[1], "WO-2026-000001", rng_for(1, "photo"))
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size == (320, 240)
    lon, lat = photo_position(jpeg)
    assert abs(lon - SITE[0]) * M_PER_DEG_LAT < 1 and abs(lat - SITE[1]) * M_PER_DEG_LAT < 1
    assert jpeg == survey_photo(SITE[0], SITE[1], "WO-2026-000001", rng_for(1, "photo"))


def test_a_job_plan_is_fixed_by_seed_crew_and_job():
    def plan(seed):
        return job_plan(rng_for(seed, "crew", "CREW-01", 17), DEPOT, SITE, "urban", "inspection")

    assert plan(1) == plan(1)
    assert plan(1) != plan(2)
    p = plan(1)
    assert distance_m(p.arrival[:2], SITE) < 30 and p.arrival[2] <= 8
