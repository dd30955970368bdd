"""The audit chain: appends verify; an edited or deleted entry is found and named."""

import subprocess
import sys

from gridcrew import audit
from tests.conftest import ROOT, service_env


def _append_three(conn):
    with conn.transaction():
        for i in range(3):
            audit.append(
                conn,
                actor="test",
                entity="work_order",
                entity_id=100 + i,
                action="created",
                payload={"i": i},
            )
    assert audit.verify(conn)["pending"] == 3
    assert audit.seal_all(conn) == 3


def _verify_cli(db_url):
    return subprocess.run(
        [sys.executable, "-m", "gridcrew", "audit", "verify"],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_intact_chain_verifies(db_url, conn):
    _append_three(conn)
    assert audit.verify(conn)["ok"]
    out = _verify_cli(db_url)
    assert out.returncode == 0, out.stderr
    assert "intact" in out.stdout


def test_edited_entry_is_named(db_url, conn):
    _append_three(conn)
    victim = conn.execute("SELECT id FROM audit_log WHERE entity_id = '101'").fetchone()["id"]
    conn.execute("UPDATE audit_log SET payload = '{\"i\": 99}' WHERE id = %s", (victim,))
    result = audit.verify(conn)
    assert not result["ok"]
    assert [(p["entry_id"], p["kind"]) for p in result["problems"]] == [(victim, "edited")]
    out = _verify_cli(db_url)
    assert out.returncode == 1
    assert f"entry {victim}: edited" in out.stdout


def test_deleted_entry_is_named(db_url, conn):
    _append_three(conn)
    ids = [
        r["id"]
        for r in conn.execute(
            "SELECT id FROM audit_log WHERE entity_id IN ('100','101','102') ORDER BY id"
        )
    ]
    conn.execute("DELETE FROM audit_log WHERE id = %s", (ids[1],))
    result = audit.verify(conn)
    assert [(p["entry_id"], p["kind"]) for p in result["problems"]] == [(ids[2], "deleted_before")]
    assert f"entry {ids[2]}: deleted_before" in _verify_cli(db_url).stdout


def test_appends_do_not_wait_for_each_other(db_url, conn):
    """Two open transactions append at once: no chain lock is held by writers."""
    from gridcrew import db

    with db.connect(db_url) as other:
        with conn.transaction(), other.transaction():
            audit.append(conn, actor="a", entity="job", entity_id=1, action="x")
            other.execute("SET LOCAL lock_timeout = '1s'")
            audit.append(other, actor="b", entity="job", entity_id=2, action="y")
    assert audit.seal_all(conn) == 2
    assert audit.verify(conn)["ok"]


def test_entries_committed_late_are_sealed_after_the_others(db_url, conn):
    from gridcrew import db

    with db.connect(db_url) as late:
        with late.transaction():
            audit.append(late, actor="late", entity="job", entity_id=1, action="x")
            with conn.transaction():
                audit.append(conn, actor="early", entity="job", entity_id=2, action="y")
            assert audit.seal_all(conn) == 1
        assert audit.seal_all(conn) == 1
    order = [r["actor"] for r in conn.execute("SELECT actor FROM audit_log ORDER BY seq")]
    assert order[-2:] == ["early", "late"]
    assert audit.verify(conn) == {"ok": True, "entries": len(order), "pending": 0, "problems": []}
