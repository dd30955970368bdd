"""``GET /v1/kpi``: every figure equals a recount in Python from the raw rows of a seeded set."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import audit, db
from gridcrew.config import get_settings
from mobile_api.track import stages
from tests.records import seeding

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 9, tzinfo=UTC)
DIMENSIONS = ("attitude", "professional_skill", "response_speed", "process_standard")


def _at(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


@pytest.fixture(scope="module")
def dataset(records_api):
    """Faults, outcomes, applications, ratings and call-backs in and around the period."""
    rng = random.Random(6)
    around = (START - timedelta(days=2), END + timedelta(days=2))
    with db.connect(records_api.database_url, autocommit=True) as conn:
        areas = seeding.area_ids(conn)
        customers = seeding.customer_ids(conn, 20)
        deadline_min = {
            r["id"]: r["arrival_deadline_min"]
            for r in conn.execute("SELECT id, arrival_deadline_min FROM service_areas")
        }
        with conn.transaction():
            for _ in range(90):
                area = rng.choice([areas["urban"], areas["rural"], areas["urban"], None])
                reported = _at(rng, *around)
                arrived = (
                    None
                    if rng.random() < 0.15
                    else reported + timedelta(minutes=rng.uniform(5, 150))
                )
                restored = (
                    None
                    if arrived is None or rng.random() < 0.2
                    else arrived + timedelta(minutes=rng.uniform(10, 240))
                )
                status = rng.choice(
                    [
                        "signed_off",
                        "signed_off",
                        "signed_off",
                        "cannot_complete",
                        "on_site",
                        "cancelled",
                    ]
                )
                wo = seeding.insert_work_order(
                    conn,
                    kind="fault_repair",
                    status=status,
                    service_area_id=area,
                    reported_at=reported,
                    arrival_deadline=reported + timedelta(minutes=deadline_min.get(area, 45)),
                    arrived_at=arrived,
                    restored_at=restored,
                    updated_at=reported + timedelta(hours=rng.uniform(1, 30)),
                )
                if status == "cannot_complete" and rng.random() < 0.5:
                    conn.execute(
                        "UPDATE work_orders SET closed_at = %s WHERE id = %s",
                        (reported + timedelta(hours=rng.uniform(1, 30)), wo["id"]),
                    )
                if status == "signed_off":
                    conn.execute(
                        "INSERT INTO signoffs (work_order_id, customer_name, signed_at,"
                        " work_summary, signature_key, signature_sha256)"
                        " VALUES (%s, 'Test Customer', %s, 'fixed', 'sig', 'x')",
                        (wo["id"], reported + timedelta(hours=rng.uniform(1, 30))),
                    )
                    if rng.random() < 0.2:
                        audit.append(
                            conn,
                            actor="crew-01",
                            entity="work_order",
                            entity_id=wo["id"],
                            action="status_changed",
                            payload={"from": "on_site", "to": "cannot_complete"},
                        )
                if rng.random() < 0.4:
                    conn.execute(
                        "INSERT INTO ratings (work_order_id, attitude, professional_skill,"
                        " response_speed, process_standard, rated_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        (wo["id"], *[rng.randint(1, 5) for _ in DIMENSIONS], _at(rng, *around)),
                    )
                if rng.random() < 0.15:
                    conn.execute(
                        "INSERT INTO call_backs (work_order_id, reason, due_at, status, created_at)"
                        " VALUES (%s, 'unsatisfied', %s, %s, %s)",
                        (
                            wo["id"],
                            _at(rng, START, END + timedelta(days=400)),
                            rng.choice(["open", "done"]),
                            _at(rng, *around),
                        ),
                    )
            for i in range(30):
                number = f"AP-K-{i:06d}"
                service_class = rng.choice(list(stages.DEADLINE_HOURS))
                submitted = _at(rng, START - timedelta(days=5), END)
                reached_stage = rng.choice(stages.STAGES)
                seeding.insert_application(
                    conn,
                    number,
                    rng.choice(customers),
                    service_class=service_class,
                    stage=reached_stage,
                    submitted_at=submitted,
                )
                previous = "accepted"
                for stage in stages.STAGES[1 : stages.STAGES.index(reached_stage) + 1]:
                    due = stages.deadline(service_class, stage, submitted)
                    conn.execute(
                        "INSERT INTO application_stage_changes (application_number, from_stage,"
                        " stage, owner, deadline, reached_at, actor)"
                        " VALUES (%s, %s, %s, %s, %s, %s, 'dispatcher')",
                        (
                            number,
                            previous,
                            stage,
                            stages.OWNERS[stage],
                            due,
                            due + timedelta(hours=rng.uniform(-6, 3)),
                        ),
                    )
                    previous = stage
    return records_api


def _rows(url: str, query: str) -> list[dict]:
    with db.connect(url) as conn:
        return conn.execute(query).fetchall()


def _p90(values: list[float]) -> float | None:
    """PostgreSQL's percentile_cont(0.9): linear interpolation between ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = 0.9 * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _kpi(api, token, **params):
    query = {"from": START.isoformat(), "to": END.isoformat(), **params}
    with api.client(token) as c:
        return c.get("/v1/kpi", params=query)


def test_every_kpi_equals_a_recount_from_raw_rows(dataset, dispatcher_token):
    r = _kpi(dataset, dispatcher_token)
    assert r.status_code == 200, r.text
    kpi = r.json()
    now = datetime.fromisoformat(kpi["as_of"])
    url = dataset.database_url
    kinds = {a["id"]: a["kind"] for a in _rows(url, "SELECT id, kind FROM service_areas")}
    faults = [
        w
        for w in _rows(url, "SELECT * FROM work_orders")
        if w["kind"] == "fault_repair"
        and w["status"] != "cancelled"
        and w["arrival_deadline"] is not None
        and START <= w["reported_at"] < END
    ]
    assert len(faults) > 30
    groups = {
        "urban": [w for w in faults if kinds.get(w["service_area_id"]) == "urban"],
        "rural": [w for w in faults if kinds.get(w["service_area_id"]) == "rural"],
        "all": faults,
    }
    for key, rows in groups.items():
        due = [w for w in rows if w["arrived_at"] is not None or w["arrival_deadline"] < now]
        within = [w for w in rows if w["arrived_at"] and w["arrived_at"] <= w["arrival_deadline"]]
        assert kpi["arrival_within_deadline"][key] == {
            "due": len(due),
            "within": len(within),
            "rate": pytest.approx(_rate(len(within), len(due))),
        }, key
        arrival = [_minutes(w["arrived_at"] - w["reported_at"]) for w in rows if w["arrived_at"]]
        restoration = [
            _minutes(w["restored_at"] - w["reported_at"]) for w in rows if w["restored_at"]
        ]
        assert kpi["times"][key] == {
            "arrived": len(arrival),
            "arrival_mean_min": pytest.approx(_mean(arrival)),
            "arrival_p90_min": pytest.approx(_p90(arrival)),
            "restored": len(restoration),
            "restoration_mean_min": pytest.approx(_mean(restoration)),
            "restoration_p90_min": pytest.approx(_p90(restoration)),
        }, key

    signed = {s["work_order_id"]: s["signed_at"] for s in _rows(url, "SELECT * FROM signoffs")}
    had_cannot = {
        int(a["entity_id"])
        for a in _rows(url, "SELECT * FROM audit_log WHERE entity = 'work_order'")
        if a["payload"].get("to") == "cannot_complete"
        or a["payload"].get("status") == "cannot_complete"
    }
    outcomes = [
        w
        for w in _rows(url, "SELECT * FROM work_orders")
        if w["status"] in ("signed_off", "cannot_complete")
        and START <= signed.get(w["id"], w["closed_at"] or w["updated_at"]) < END
    ]
    first_time = [w for w in outcomes if w["status"] == "signed_off" and w["id"] not in had_cannot]
    assert had_cannot and len(outcomes) > len(first_time) > 0
    ftf_rate = _rate(len(first_time), len(outcomes))
    assert kpi["first_time_fix"] == {
        "outcomes": len(outcomes),
        "first_time": len(first_time),
        "rate": pytest.approx(ftf_rate),
        "goal": 0.95,
        "meets_goal": ftf_rate >= 0.95,
    }

    reached = {
        (c["application_number"], c["stage"]): c
        for c in _rows(url, "SELECT * FROM application_stage_changes")
    }
    per_stage: dict[str, list[int]] = {stage: [0, 0] for stage in stages.STAGES[1:]}
    for app in _rows(url, "SELECT * FROM applications"):
        for stage in stages.STAGES[1:]:
            change = reached.get((app["number"], stage))
            deadline = (
                change["deadline"]
                if change
                else stages.deadline(app["service_class"], stage, app["submitted_at"])
            )
            if not START <= deadline < END:
                continue
            counts = per_stage[stage]
            if change is not None or deadline < now:
                counts[0] += 1
            if change is not None and change["reached_at"] <= deadline:
                counts[1] += 1
    per_stage["all"] = [
        sum(c[0] for c in per_stage.values()),
        sum(c[1] for c in per_stage.values()),
    ]
    assert per_stage["all"][0] > per_stage["all"][1] > 0
    assert kpi["stage_deadline_compliance"] == {
        key: {"due": due, "met": met, "rate": pytest.approx(_rate(met, due))}
        for key, (due, met) in per_stage.items()
    }

    ratings = [r for r in _rows(url, "SELECT * FROM ratings") if START <= r["rated_at"] < END]
    assert ratings
    assert kpi["ratings"] == {
        "count": len(ratings),
        "mean": {d: pytest.approx(_mean([r[d] for r in ratings])) for d in DIMENSIONS},
        "unsatisfied": sum(1 for r in ratings if min(r[d] for d in DIMENSIONS) <= 2),
    }

    call_backs = _rows(url, "SELECT * FROM call_backs")
    open_ = [c for c in call_backs if c["status"] == "open"]
    assert open_
    assert kpi["call_backs"] == {
        "open": len(open_),
        "open_overdue": sum(1 for c in open_ if c["due_at"] < now),
        "opened_in_period": sum(1 for c in call_backs if START <= c["created_at"] < END),
    }

    days: dict[datetime, list[dict]] = {}
    for w in faults:
        day = w["reported_at"].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days.setdefault(day, []).append(w)
    expected_trend = []
    for day in sorted(days):
        rows = days[day]
        due = [w for w in rows if w["arrived_at"] is not None or w["arrival_deadline"] < now]
        within = [w for w in rows if w["arrived_at"] and w["arrived_at"] <= w["arrival_deadline"]]
        expected_trend.append(
            {
                "bucket": day,
                "faults": len(rows),
                "within_deadline_rate": pytest.approx(_rate(len(within), len(due))),
                "arrival_mean_min": pytest.approx(
                    _mean(
                        [
                            _minutes(w["arrived_at"] - w["reported_at"])
                            for w in rows
                            if w["arrived_at"]
                        ]
                    )
                ),
                "restoration_mean_min": pytest.approx(
                    _mean(
                        [
                            _minutes(w["restored_at"] - w["reported_at"])
                            for w in rows
                            if w["restored_at"]
                        ]
                    )
                ),
            }
        )
    trend = [{**t, "bucket": datetime.fromisoformat(t["bucket"])} for t in kpi["trend"]]
    assert len(trend) == 7
    assert trend == expected_trend


def test_hourly_trend_sums_to_the_period(dataset, dispatcher_token):
    daily = _kpi(dataset, dispatcher_token).json()
    hourly = _kpi(dataset, dispatcher_token, bucket="hour").json()
    assert hourly["bucket_seconds"] == 3600
    assert sum(t["faults"] for t in hourly["trend"]) == sum(t["faults"] for t in daily["trend"])


@pytest.mark.parametrize(
    "params",
    [
        {"from": END.isoformat(), "to": START.isoformat()},
        {"from": START.isoformat(), "to": START.isoformat()},
        {"from": "2026-03-01T25:00:00", "to": "2026-03-02T00:00:00"},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "bucket": "hour"},
    ],
)
def test_a_bad_period_is_a_422_problem(dataset, dispatcher_token, params):
    with dataset.client(dispatcher_token) as c:
        r = c.get("/v1/kpi", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "bad_period"


def test_missing_or_malformed_bounds_are_422(dataset, dispatcher_token):
    with dataset.client(dispatcher_token) as c:
        assert c.get("/v1/kpi", params={"to": START.isoformat()}).status_code == 422
        assert c.get("/v1/kpi", params={"from": "yesterday", "to": "today"}).status_code == 422


def test_consistency_a_date_is_that_day_in_the_local_zone(dataset, dispatcher_token):
    """Issue 16: ``from=2026-03-04`` (no zone) was a 422; it is that day, local time."""
    zone = get_settings().local_zone
    day_start = datetime(2026, 3, 4, tzinfo=zone)
    with dataset.client(dispatcher_token) as c:
        by_date = c.get("/v1/kpi", params={"from": "2026-03-04"})
        naive = c.get("/v1/kpi", params={"from": "2026-03-04T00:00:00", "to": "2026-03-05"})
        explicit = c.get(
            "/v1/kpi",
            params={
                "from": day_start.isoformat(),
                "to": (day_start + timedelta(days=1)).isoformat(),
            },
        )
    assert by_date.status_code == naive.status_code == explicit.status_code == 200, by_date.text
    for r in (by_date, naive):
        body, want = r.json(), explicit.json()
        assert datetime.fromisoformat(body["from"]) == day_start
        assert body["arrival_within_deadline"] == want["arrival_within_deadline"]
        assert body["first_time_fix"] == want["first_time_fix"]


def test_an_empty_period_has_zero_counts_and_no_rates(dataset, dispatcher_token):
    with dataset.client(dispatcher_token) as c:
        r = c.get("/v1/kpi", params={"from": "2020-01-01T00:00:00Z", "to": "2020-01-08T00:00:00Z"})
    kpi = r.json()
    assert r.status_code == 200
    assert kpi["arrival_within_deadline"]["urban"] == {"due": 0, "within": 0, "rate": None}
    assert kpi["times"]["rural"]["arrival_p90_min"] is None
    assert kpi["first_time_fix"]["rate"] is None and kpi["first_time_fix"]["meets_goal"] is None
    assert set(kpi["stage_deadline_compliance"]) == {
        "survey",
        "plan",
        "construction",
        "energized",
        "all",
    }
    assert kpi["ratings"]["count"] == 0 and kpi["trend"] == []
