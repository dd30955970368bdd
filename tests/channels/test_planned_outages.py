"""Planned outages over real HTTP: exactly the downstream customers are told, also of a cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import topology
from gridcrew.notices import outbox as notifications
from simulators.demo.territory import build


@pytest.fixture(scope="module")
def territory():
    return build(1)


@pytest.fixture(scope="module")
def desk(channels_api):
    with channels_api.client(channels_api.login("dispatcher")) as c:
        yield c


def expected_customers(territory, section: str) -> set[str]:
    parents = {s.id: s.parent_id for s in territory.sections}
    below = set(topology.downstream(parents, section))
    return {m.customer_id for m in territory.meters if m.section_id in below}


def _told(mconn, number: str, kind: str) -> dict[str, str]:
    rows = mconn.execute(
        "SELECT customer_id, recipient FROM notifications WHERE subject = %s AND kind = %s",
        (number, kind),
    ).fetchall()
    return {r["customer_id"]: r["recipient"] for r in rows}


def test_planned_outage_notifies_exactly_the_downstream_customers(desk, mconn, territory):
    starts = datetime.now(UTC) + timedelta(days=2)
    r = desk.post(
        "/v1/planned-outages",
        json={
            "section_id": "F2-S2",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=4)).isoformat(),
            "reason": "replacing a pole-mounted switch",
        },
    )
    assert r.status_code == 201, r.text
    po = r.json()
    expected = expected_customers(territory, "F2-S2")
    assert len(expected) > 1000
    told = _told(mconn, po["number"], "planned_outage")
    assert set(told) == expected
    phones = {c.id: c.phone for c in territory.customers}
    assert all(told[c] == phones[c] for c in told)
    assert po["customers_affected"] == po["notified"] == len(expected)
    upstream_only = expected_customers(territory, "F2-S1") - expected
    assert upstream_only and not upstream_only & set(told)

    # inside the window the gateway's question names exactly these customers' meters
    in_window = starts + timedelta(hours=1)
    meters = [m.id for m in territory.meters if m.section_id.startswith("F2-")]
    silenced = mconn.execute(
        "SELECT d.customer_id FROM devices d"
        " WHERE d.id IN (SELECT devices_in_planned_outage(%s, %s))",
        (meters, in_window),
    ).fetchall()
    assert {r["customer_id"] for r in silenced} == expected

    # queued is not told: a notice counts once delivered (sent_at), issue 16
    kpi = desk.get("/v1/kpi/planned-outages").json()
    assert kpi["notices_queued"] == kpi["customers_affected"] == len(expected)
    assert kpi["customers_notified_in_advance"] == 0 and kpi["notice_rate"] == 0.0
    mconn.execute(
        "UPDATE notifications SET status = 'sent', sent_at = now()"
        " WHERE id IN (SELECT notification_id"
        " FROM planned_outage_notices n JOIN planned_outages p ON p.id = n.planned_outage_id"
        " WHERE p.number = %s)",
        (po["number"],),
    )
    kpi = desk.get("/v1/kpi/planned-outages").json()
    assert kpi["notice_rate"] == 1.0
    assert kpi["customers_affected"] == len(expected)
    assert 47.5 < kpi["min_lead_time_h"] <= 48.0

    cancel = desk.post(f"/v1/planned-outages/{po['number']}/cancel", json={"reason": "weather"})
    assert cancel.status_code == 200 and cancel.json()["cancelled_at"] is not None
    assert set(_told(mconn, po["number"], "planned_outage_cancelled")) == expected
    again = desk.post(f"/v1/planned-outages/{po['number']}/cancel", json={})
    assert again.status_code == 409 and again.json()["code"] == "already_cancelled"

    # each batch is in the audit chain with every notice it queued, per customer
    for kind in ("planned_outage", "planned_outage_cancelled"):
        entry = mconn.execute(
            "SELECT payload FROM audit_log WHERE entity = 'notification_batch'"
            " AND entity_id = %s AND action = 'queued'",
            (f"{po['number']}:{kind}",),
        ).fetchone()
        assert entry is not None, kind
        outbox = mconn.execute(
            "SELECT id, customer_id, recipient, body FROM notifications"
            " WHERE subject = %s AND kind = %s ORDER BY id",
            (po["number"], kind),
        ).fetchall()
        payload = entry["payload"]
        assert payload["notices"] == [[n["id"], n["customer_id"], n["recipient"]] for n in outbox]
        assert payload["count"] == len(expected) and payload["body"] == outbox[0]["body"]
        assert payload["notices_sha256"] == notifications.batch_digest(payload["notices"])
    assert desk.get("/v1/audit/verify").json()["ok"] is True
    audit = mconn.execute(
        "SELECT action FROM audit_log WHERE entity = 'planned_outage' AND entity_id = %s"
        " ORDER BY id",
        (po["number"],),
    ).fetchall()
    assert [a["action"] for a in audit] == ["scheduled", "cancelled"]


def test_leaf_section_notifies_only_its_customers(desk, mconn, territory):
    starts = datetime.now(UTC) + timedelta(hours=6)
    po = desk.post(
        "/v1/planned-outages",
        json={
            "section_id": "F4-S6",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "reason": "tree trimming",
        },
    ).json()
    assert set(_told(mconn, po["number"], "planned_outage")) == expected_customers(
        territory, "F4-S6"
    )


@pytest.mark.parametrize(
    ("section", "start_h", "end_h", "status", "code"),
    [
        ("F9-S9", 2, 3, 404, "unknown_section"),
        ("F1-S1", -1, 3, 422, "starts_in_the_past"),
        ("F1-S1", 3, 2, 422, "validation_error"),
    ],
)
def test_bad_plans_are_problems(desk, section, start_h, end_h, status, code):
    now = datetime.now(UTC)
    r = desk.post(
        "/v1/planned-outages",
        json={
            "section_id": section,
            "starts_at": (now + timedelta(hours=start_h)).isoformat(),
            "ends_at": (now + timedelta(hours=end_h)).isoformat(),
            "reason": "maintenance",
        },
    )
    assert r.status_code == status and r.json()["code"] == code


def test_crews_cannot_schedule(channels_api):
    with channels_api.client(channels_api.login("crew-01")) as c:
        now = datetime.now(UTC)
        r = c.post(
            "/v1/planned-outages",
            json={
                "section_id": "F1-S1",
                "starts_at": (now + timedelta(hours=2)).isoformat(),
                "ends_at": (now + timedelta(hours=3)).isoformat(),
                "reason": "maintenance",
            },
        )
    assert r.status_code == 403 and r.json()["code"] == "dispatcher_only"
