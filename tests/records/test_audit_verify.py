"""``GET /v1/audit/verify`` finds an edited or a deleted audit row and names it."""

from __future__ import annotations

import pytest
from psycopg.types.json import Jsonb

from gridcrew import audit, db


@pytest.fixture(scope="module")
def chain(records_api, dispatcher_token):
    """A few real entries written through the API (stage changes and their notifications)."""
    with records_api.client(dispatcher_token) as c:
        for stage in ("survey", "plan", "construction"):
            r = c.post("/v1/applications/AP-2026-000002/stage", json={"stage": stage})
            assert r.status_code == 200, r.text
    with db.connect(records_api.database_url, autocommit=True) as conn:
        audit.seal_all(conn)  # sealed before the tests tamper with them
        return [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM audit_log WHERE entity IN ('application', 'notification')"
                " ORDER BY id"
            )
        ]


def _verify(api, token):
    with api.client(token) as c:
        r = c.get("/v1/audit/verify")
    assert r.status_code == 200, r.text
    return r.json()


def test_intact_chain(records_api, dispatcher_token, chain):
    result = _verify(records_api, dispatcher_token)
    assert result["ok"] is True and result["problems"] == []
    assert result["entries"] >= len(chain) == 6


def test_edited_row_is_named_and_restoring_it_heals(records_api, dispatcher_token, chain):
    victim = chain[1]
    with db.connect(records_api.database_url, autocommit=True) as conn:
        original = conn.execute(
            "SELECT payload FROM audit_log WHERE id = %s", (victim,)
        ).fetchone()["payload"]
        conn.execute(
            "UPDATE audit_log SET payload = payload || '{\"on_time\": false}' WHERE id = %s",
            (victim,),
        )
        edited = _verify(records_api, dispatcher_token)
        conn.execute(
            "UPDATE audit_log SET payload = %s WHERE id = %s",
            (Jsonb(original), victim),
        )
    assert edited["ok"] is False
    assert [(p["entry_id"], p["kind"]) for p in edited["problems"]] == [(victim, "edited")]
    assert "AP-2026-000002" in edited["problems"][0]["detail"]
    assert _verify(records_api, dispatcher_token)["ok"] is True


def test_deleted_row_is_named(records_api, dispatcher_token, chain):
    with db.connect(records_api.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_log WHERE id = %s", (chain[2],))
    result = _verify(records_api, dispatcher_token)
    assert result["ok"] is False
    assert [(p["entry_id"], p["kind"]) for p in result["problems"]] == [
        (chain[3], "deleted_before")
    ]
    assert f"entry {chain[3]} does not follow entry {chain[1]}" in result["problems"][0]["detail"]
