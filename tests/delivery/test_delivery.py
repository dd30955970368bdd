"""The delivery worker against real local receivers: HTTP webhook, SMTP (aiosmtpd), Web Push
(a local push service that decrypts the payload); retries, final answers, order, several
workers, a worker killed mid-batch, and the audit chain."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import http_ece
import jwt
import psycopg
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridcrew import db
from gridcrew.net import free_port
from gridcrew.notices import delivery
from mobile_api.notifications import vapid, worker
from mobile_api.planned import service as planned
from tests.conftest import ROOT, stop_process
from tests.delivery.conftest import SECRET, customers, drain, queue, settings_for


@pytest.fixture
def outbox(db_url: str):
    """A test database whose seeded notifications are out of the way (not ours to send)."""
    with db.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE notifications SET status = 'dead', dead_reason = 'seeded before the test'"
        )
        yield conn


def _row(conn: psycopg.Connection, nid: int) -> dict:
    return conn.execute("SELECT * FROM notifications WHERE id = %s", (nid,)).fetchone()


def _attempts(conn: psycopg.Connection, nid: int) -> list[dict]:
    return conn.execute(
        "SELECT * FROM notification_attempts WHERE notification_id = %s ORDER BY attempt", (nid,)
    ).fetchall()


def test_delivery_retries_5xx_then_one_accepted_delivery(db_url, outbox, receiver, tmp_path):
    rec = receiver(lambda key, n: (500, 0) if n < 2 else (200, 0))
    (cid,) = customers(outbox, 1)
    note = queue(outbox, cid, "crew_assigned", "抢修队已出发，预计 14:05 到达。", "t:retry")
    s = settings_for(db_url, tmp_path, notify_webhook_url=rec.url)
    drain(db_url, s, until=lambda: _row(outbox, note["id"])["status"] != "queued")

    row = _row(outbox, note["id"])
    assert row["status"] == "sent" and row["sent_at"] is not None and row["attempts"] == 3
    assert [a["outcome"] for a in _attempts(outbox, note["id"])] == ["retry", "retry", "accepted"]
    assert [a["status_code"] for a in _attempts(outbox, note["id"])] == [500, 500, 200]
    key = delivery.idempotency_key(note["id"])
    assert rec.count(key) == 3 and len(rec.accepted()) == 1
    sent = rec.accepted()[0]
    assert sent["signed"] and sent["body"]["text"] == "抢修队已出发，预计 14:05 到达。"
    assert sent["body"]["recipient"] == row["recipient"]
    # the back-off grew: the third try waited longer after the second than the second after
    # the first (base 0.05 s doubling, jitter in the upper half)
    t = [p["at"] for p in rec.posts]
    assert t[2] - t[1] > (t[1] - t[0]) * 0.9
    entry = outbox.execute(
        "SELECT payload FROM audit_log WHERE entity = 'notification' AND entity_id = %s"
        " AND action = 'delivered'",
        (str(note["id"]),),
    ).fetchone()
    assert entry["payload"]["attempts"] == 3 and entry["payload"]["status_code"] == 200


def test_delivery_4xx_is_final_429_and_timeouts_are_retried(db_url, outbox, receiver, tmp_path):
    codes = {}
    rec = receiver(lambda key, n: codes[key](n))
    a, b, c = customers(outbox, 3)
    bad = queue(outbox, a, "k", "x", "t:400")
    busy = queue(outbox, b, "k", "y", "t:429")
    slow = queue(outbox, c, "k", "z", "t:slow")
    codes[delivery.idempotency_key(bad["id"])] = lambda n: (400, 0)
    codes[delivery.idempotency_key(busy["id"])] = lambda n: (429, 0) if n == 0 else (204, 0)
    codes[delivery.idempotency_key(slow["id"])] = lambda n: (200, 2.5)  # longer than 1 s
    s = settings_for(db_url, tmp_path, notify_webhook_url=rec.url, notify_max_attempts=2)
    ids = [bad["id"], busy["id"], slow["id"]]
    drain(db_url, s, until=lambda: all(_row(outbox, i)["status"] != "queued" for i in ids))

    assert _row(outbox, bad["id"])["status"] == "dead"
    assert _row(outbox, bad["id"])["attempts"] == 1
    assert _row(outbox, bad["id"])["dead_reason"].startswith("refused: 400")
    assert _row(outbox, bad["id"])["sent_at"] is None
    assert [x["outcome"] for x in _attempts(outbox, busy["id"])] == ["retry", "accepted"]
    dead = _row(outbox, slow["id"])
    assert dead["status"] == "dead" and dead["attempts"] == 2
    assert "gave up after 2 attempts" in dead["dead_reason"] and "timeout" in dead["dead_reason"]
    audit = outbox.execute(
        "SELECT entity_id, action FROM audit_log WHERE entity = 'notification'"
        " AND action IN ('delivered', 'dead') AND entity_id = ANY(%s)",
        ([str(i) for i in ids],),
    ).fetchall()
    assert {(r["entity_id"], r["action"]) for r in audit} == {
        (str(bad["id"]), "dead"),
        (str(busy["id"]), "delivered"),
        (str(slow["id"]), "dead"),
    }


def test_delivery_refused_connection_is_retried_and_the_outbox_api_shows_it(
    db_url, outbox, tmp_path, api_on
):
    (cid,) = customers(outbox, 1)
    note = queue(outbox, cid, "k", "x", "t:refused")
    s = settings_for(db_url, tmp_path, notify_webhook_url=f"http://127.0.0.1:{free_port()}/")
    with db.connect(db_url, autocommit=True) as conn:
        worker.run_once(conn, s, "w")
    row = _row(outbox, note["id"])
    assert row["status"] == "queued" and row["next_attempt_at"] > row["due_at"]
    (attempt,) = _attempts(outbox, note["id"])
    assert attempt["outcome"] == "retry" and "Connect" in attempt["answer"]

    api = api_on(db_url)
    with api.client(api.login("dispatcher")) as desk:
        shown = desk.get(f"/v1/notifications/{note['id']}").json()
        assert shown["status"] == "queued" and shown["attempts"] == 1
        assert shown["attempt_log"][0]["outcome"] == "retry"
        assert desk.get("/v1/notifications/counts").json()["queued"] >= 1
        listed = desk.get("/v1/notifications", params={"status": "queued"}).json()
        assert note["id"] in {n["id"] for n in listed}
        assert all(n["status"] == "queued" for n in listed)
        assert not desk.get("/v1/notifications", params={"status": "sent"}).json()


def test_delivery_keeps_each_customers_order(db_url, outbox, receiver, tmp_path):
    """A customer's second message waits while the first is being retried."""
    first_key = {}
    rec = receiver(lambda key, n: (503, 0) if key == first_key.get("k") and n < 2 else (200, 0))
    a, b = customers(outbox, 2)
    first = queue(outbox, a, "k", "first", "t:o1")
    second = queue(outbox, a, "k", "second", "t:o2")
    other = queue(outbox, b, "k", "other customer", "t:o3")
    first_key["k"] = delivery.idempotency_key(first["id"])
    s = settings_for(db_url, tmp_path, notify_webhook_url=rec.url)
    ids = [first["id"], second["id"], other["id"]]
    drain(db_url, s, until=lambda: all(_row(outbox, i)["status"] == "sent" for i in ids))
    order = [p["body"]["text"] for p in rec.accepted()]
    assert order.index("first") < order.index("second")
    # the other customer was not held up by the first one's retries
    assert order.index("other customer") < order.index("first")


def test_delivery_several_workers_never_send_twice(db_url, outbox, receiver, tmp_path):
    rec = receiver(lambda key, n: (200, 0.01))
    ids = [queue(outbox, c, "k", f"m{c}", f"t:w:{c}")["id"] for c in customers(outbox, 40)]
    s = settings_for(db_url, tmp_path, notify_webhook_url=rec.url, notify_batch=3)

    def done() -> bool:
        sent = outbox.execute(
            "SELECT count(*) AS n FROM notifications WHERE id = ANY(%s) AND status = 'sent'",
            (ids,),
        ).fetchone()["n"]
        return sent == len(ids)

    threads = [
        threading.Thread(target=drain, args=(db_url, s), kwargs={"until": done}) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert done()
    keys = [p["key"] for p in rec.posts]
    assert len(keys) == len(set(keys)) == len(ids)


def test_delivery_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    db_url, outbox, receiver, tmp_path
):
    rec = receiver(lambda key, n: (200, 0.15))
    ids = [queue(outbox, c, "k", f"m{c}", f"t:kill:{c}")["id"] for c in customers(outbox, 30)]
    env = {
        **os.environ,
        "GRIDCREW_DATABASE_URL": db_url,
        "GRIDCREW_DATA_DIR": str(tmp_path),
        "GRIDCREW_NOTIFY_WEBHOOK_URL": rec.url,
        "GRIDCREW_NOTIFY_WEBHOOK_SECRET": SECRET,
        "GRIDCREW_NOTIFY_TIMEOUT_S": "1",
        "GRIDCREW_NOTIFY_BATCH": "4",
        "GRIDCREW_NOTIFY_POLL_S": "0.1",
    }
    cmd = [sys.executable, "-m", "gridcrew", "notify"]
    first = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(rec.posts) < 8:  # mid-batch: some delivered, one in flight
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while outbox.execute(
            "SELECT count(*) AS n FROM notifications WHERE id = ANY(%s) AND status = 'sent'",
            (ids,),
        ).fetchone()["n"] < len(ids):
            assert time.monotonic() < deadline, "not everything was delivered after the restart"
            time.sleep(0.2)
    finally:
        stop_process(second)
    wanted = {delivery.idempotency_key(i) for i in ids}
    accepted = [p["key"] for p in rec.accepted()]
    assert sorted(accepted) == sorted(wanted)  # none lost, each once for the receiver
    repeats = [k for k in wanted if rec.count(k) > 1]
    assert len(repeats) <= 1  # at most the one in flight when the worker died was posted again
    for i in ids:  # from the worker's side: exactly one accepted attempt each
        outcomes = [a["outcome"] for a in _attempts(outbox, i)]
        assert outcomes.count("accepted") == 1, outcomes
        assert set(outcomes) <= {"accepted", "interrupted"}


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


def test_delivery_by_email_over_smtp(db_url, outbox, tmp_path):
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        (cid,) = customers(outbox, 1)
        outbox.execute("UPDATE customers SET email = 'li.wei@example.cn' WHERE id = %s", (cid,))
        note = queue(outbox, cid, "power_restored", "您所在区域已恢复供电。", "t:mail")
        copy = outbox.execute(
            "SELECT * FROM notifications WHERE dedup_key = 't:mail:email'"
        ).fetchone()
        assert copy["recipient"] == "li.wei@example.cn" and copy["channel"] == "email"
        s = settings_for(db_url, tmp_path, notify_smtp_host="127.0.0.1", notify_smtp_port=port)
        drain(db_url, s, until=lambda: _row(outbox, copy["id"])["status"] != "queued")
        assert _row(outbox, copy["id"])["status"] == "sent"
        assert _row(outbox, note["id"])["status"] == "queued"  # no webhook configured here
        (mail,) = mailbox.messages
        assert mail.rcpt_tos == ["li.wei@example.cn"]
        text = mail.content.decode()
        assert delivery.idempotency_key(copy["id"]) in text  # the Message-ID
        import email as email_lib

        parsed = email_lib.message_from_bytes(mail.content)
        assert parsed.get_payload(decode=True).decode().strip() == "您所在区域已恢复供电。"
    finally:
        controller.stop()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_delivery_by_web_push_decrypted_by_the_push_service(db_url, outbox, tmp_path):
    """A local push service: checks the VAPID JWT with the installation's public key and
    decrypts the payload with the subscription's private key (as the browser would)."""
    browser_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    p256dh = _b64(
        browser_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    received: list[dict] = []

    class PushService(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            scheme, _, creds = self.headers["Authorization"].partition(" ")
            params = dict(p.split("=", 1) for p in creds.split(","))
            token = params.get("t", "").strip()
            received.append(
                {
                    "scheme": scheme,
                    "token": token,
                    "k": params.get("k", "").strip(),
                    "encoding": self.headers["Content-Encoding"],
                    "plain": http_ece.decrypt(
                        body, private_key=browser_key, auth_secret=auth, version="aes128gcm"
                    ),
                }
            )
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), PushService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (cid,) = customers(outbox, 1)
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/push/abc"
        sub = outbox.execute(
            "INSERT INTO push_subscriptions (customer_id, endpoint, p256dh, auth)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (cid, endpoint, p256dh, _b64(auth)),
        ).fetchone()
        note = queue(outbox, cid, "crew_arrived", "抢修人员已到达现场。", "t:push")
        copy = outbox.execute(
            "SELECT * FROM notifications WHERE dedup_key = %s", (f"t:push:push:{sub['id']}",)
        ).fetchone()
        s = settings_for(db_url, tmp_path)
        drain(db_url, s, until=lambda: _row(outbox, copy["id"])["status"] != "queued")
        assert _row(outbox, copy["id"])["status"] == "sent"
        (got,) = received
        assert got["scheme"] == "vapid" and got["encoding"] == "aes128gcm"
        assert got["k"] == vapid.public_key(s)
        public = serialization.load_pem_private_key(
            vapid.private_key_file(s).read_bytes(), None
        ).public_key()
        claims = jwt.decode(
            got["token"], public, algorithms=["ES256"], audience=None, options={"verify_aud": False}
        )
        assert claims["aud"] == f"http://127.0.0.1:{server.server_address[1]}"
        payload = json.loads(got["plain"])
        assert payload["body"] == "抢修人员已到达现场。" and payload["id"] == copy["id"]
        assert note["channel"] == "sms"
    finally:
        server.shutdown()


def test_delivery_planned_outage_notice_rate_counts_delivered_notices(
    db_url, outbox, receiver, tmp_path
):
    refused = set()
    rec = receiver(lambda key, n: (400, 0) if key in refused else (200, 0))
    starts = datetime.now(UTC) + timedelta(days=1)
    po = planned.schedule(
        outbox,
        section_id="F2-S5",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        reason="更换配电变压器",
        actor="dispatcher",
        tz=ZoneInfo("Asia/Shanghai"),
    )
    told = outbox.execute(
        "SELECT notification_id FROM planned_outage_notices WHERE planned_outage_id = %s",
        (po["id"],),
    ).fetchall()
    assert told
    refused.add(delivery.idempotency_key(told[0]["notification_id"]))
    window = (starts - timedelta(hours=1), starts + timedelta(hours=1))
    assert planned.kpi(outbox, *window)["notice_rate"] == 0.0  # queued is not told
    s = settings_for(db_url, tmp_path, notify_webhook_url=rec.url, notify_batch=200)
    ids = [t["notification_id"] for t in told]
    drain(
        db_url,
        s,
        until=lambda: outbox.execute(
            "SELECT bool_and(status <> 'queued') AS done FROM notifications WHERE id = ANY(%s)",
            (ids,),
        ).fetchone()["done"],
        timeout=120,
    )
    kpi = planned.kpi(outbox, *window)
    assert kpi["customers_notified_in_advance"] == len(told) - 1
    assert kpi["notice_rate"] == round((len(told) - 1) / kpi["customers_affected"], 4) < 1.0
