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
