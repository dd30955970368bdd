"""API replicas are stateless: two uvicorn processes on one database serve one crew
interchangeably, as behind a round-robin load balancer (docs/scale-out.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from gridcrew import db
from tests import stack
from tests.conftest import Broker


def test_two_api_replicas_share_tokens_and_idempotency_keys(db_url: str, broker: Broker):
    with stack.api(db_url, broker.url) as a, stack.api(db_url, broker.url) as b:
        token = a.login("crew-03")
        fix = {
            "lon": 120.755,
            "lat": 30.746,
            "accuracy_m": 6.0,
            "time": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        headers = {"Idempotency-Key": "e2e-replica-fix-1"}
        with a.client(token) as on_a, b.client(token) as on_b:
            first = on_a.post("/v1/positions", json=fix, headers=headers)
            replay = on_b.post("/v1/positions", json=fix, headers=headers)
            me = on_b.get("/v1/auth/me")
            jobs = on_b.get("/v1/jobs")
    assert first.status_code == replay.status_code == 200, (first.text, replay.text)
    assert replay.json() == first.json()
    assert me.status_code == 200 and me.json()["crew_id"] == "CREW-03"
    assert jobs.status_code == 200
    with db.connect(db_url) as conn:
        n = conn.execute(
            "SELECT count(*) AS n FROM crew_positions WHERE crew_id = 'CREW-03'"
        ).fetchone()["n"]
    assert n == 1
