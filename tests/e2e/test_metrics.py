"""Each process's /metrics scraped during a short real run (broker, gateway, dispatcher,
API): the counters move by exactly what was done, and by nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gridcrew import db
from gridcrew.net import free_port
from tests import stack
from tests.api.conftest import SITE, make_job, now_iso
from tests.conftest import Broker
from tests.gateway.conftest import Publisher, reading

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of *name*'s samples whose labels include *labels* (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Metrics ports for the services the test starts (service_env copies os.environ)."""
    chosen = {"gateway": free_port(), "dispatch": free_port()}
    for name, port in chosen.items():
        monkeypatch.setenv(f"GRIDCREW_{name.upper()}_METRICS_PORT", str(port))
    yield chosen


def test_metrics_move_by_what_was_done(db_url: str, broker: Broker, ports: dict[str, int]):
    gateway_url = f"http://127.0.0.1:{ports['gateway']}/metrics"
    dispatch_url = f"http://127.0.0.1:{ports['dispatch']}/metrics"
    with (
        stack.gateway(db_url, broker.url),
        stack.dispatcher(db_url, broker.url),
        stack.api(db_url, broker.url) as api,
    ):
        gw0 = stack.wait_for(lambda: scrape(gateway_url), what="the gateway's metrics")
        assert value(gw0, "gridcrew_gateway_broker_connected") == 1

        # N readings of distinct meters, one message each, and one malformed payload
        with db.connect(db_url, autocommit=True) as conn:
            meters = [
                r["id"]
                for r in conn.execute(
                    "SELECT id FROM devices WHERE kind = 'meter' ORDER BY id LIMIT 25"
                )
            ]
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        publisher = Publisher(broker)
        try:
            publisher.publish_all(
                [(f"devices/{m}/readings", reading(m, at)) for m in meters]
                + [(f"devices/{meters[0]}/readings", b"{not json")]
            )
        finally:
            publisher.close()
        n = len(meters)

        def moved() -> Samples | None:
            now = scrape(gateway_url)
            done = value(now, "gridcrew_gateway_dead_letters_total") - value(
                gw0, "gridcrew_gateway_dead_letters_total"
            )
            return (
                now
                if done >= 1 and value(now, "gridcrew_gateway_acks_pending_messages") == 0
                else None
            )

        gw1 = stack.wait_for(moved, what="the gateway to store the readings")
        diff = [
            (name, labels, value(gw1, name, **labels) - value(gw0, name, **labels))
            for name, labels in [
                ("gridcrew_gateway_rows_committed_total", {"kind": "reading"}),
                ("gridcrew_gateway_rows_committed_total", {"kind": "dead_letter"}),
                ("gridcrew_gateway_dead_letters_total", {"reason": "malformed_json"}),
                ("gridcrew_gateway_dead_letters_total", {}),
                ("gridcrew_gateway_messages_received_total", {"kind": "readings"}),
                ("gridcrew_gateway_rows_received_total", {"kind": "reading"}),
            ]
        ]
        assert [d for _, _, d in diff] == [n, 1, 1, 1, n + 1, n], diff
        assert (
            value(gw1, "gridcrew_gateway_batch_rows_sum")
            - value(gw0, "gridcrew_gateway_batch_rows_sum")
            == n + 1
        )
        with db.connect(db_url, autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) AS n FROM meter_readings").fetchone()["n"]
        assert value(gw1, "gridcrew_gateway_rows_committed_total", kind="reading") == stored

        # one check-in: the route's histogram count grows by one, whatever its answer
        job = make_job(db_url, "CREW-01", status="en_route")
        token = api.login("crew-01")
        route = {"method": "POST", "route": "/v1/jobs/{job_id}/check-ins"}
        api0 = scrape(f"{api.base_url}/metrics")
        r = api.client(token).post(
            f"/v1/jobs/{job}/check-ins",
            json={"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()},
        )
        api1 = scrape(f"{api.base_url}/metrics")
        count = "gridcrew_api_request_duration_seconds_count"
        assert value(api1, count, **route) - value(api0, count, **route) == 1
        assert (
            value(api1, count, **route, status=str(r.status_code))
            - value(api0, count, **route, status=str(r.status_code))
            == 1
        )
        # no ids in labels: every route label is a template or "unmatched"
        assert all(str(job) not in dict(labels).get("route", "") for (_, labels) in api1), (
            "a job id became a label"
        )
        assert value(api1, "gridcrew_audit_unsealed_entries") >= 0

        # the dispatcher: leading; its plan counter, by trigger, is the plans it wrote (a
        # plan is counted after its commit: never ahead of the table, and catching up)
        before = plans_counted(scrape(dispatch_url))
        written = plans_written(db_url)

        def caught_up() -> Samples | None:
            now = scrape(dispatch_url)
            counted = plans_counted(now)
            return now if all(counted.get(t, 0) >= k for t, k in written.items()) else None

        after = stack.wait_for(caught_up, what="the dispatcher's plans to be counted")
        assert value(after, "gridcrew_dispatch_leader") == 1
        assert written.get("start") == 1
        assert all(k <= written.get(t, 0) for t, k in before.items()), (before, written)
        assert value(after, "gridcrew_dispatch_solve_duration_seconds_count") == sum(
            plans_counted(after).values()
        )


def plans_counted(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["trigger"]: v
        for (name, labels), v in samples.items()
        if name == "gridcrew_dispatch_plans_total"
    }


def plans_written(db_url: str) -> dict[str, int]:
    with db.connect(db_url, autocommit=True) as conn:
        return {
            r["trigger"]: r["n"]
            for r in conn.execute(
                "SELECT trigger, count(*) AS n FROM dispatch_plans GROUP BY trigger"
            )
        }


def test_metrics_of_several_api_workers_add_up(db_url: str, tmp_path):
    """With uvicorn's --workers 2 (prometheus-client's multiprocess mode) a scrape, answered
    by either worker, counts every request whichever worker served it."""
    from mobile_api.serve import api_subprocess
    from tests.conftest import ROOT, service_env, stop_process

    port = free_port()
    folder = tmp_path / "metrics"
    env = service_env(db_url, PROMETHEUS_MULTIPROC_DIR=str(folder))
    proc = api_subprocess(port, env, cwd=ROOT, timeout=60, workers=2)
    base = f"http://127.0.0.1:{port}"
    route = {"method": "GET", "route": "/i18n/{lang}.json"}
    count = "gridcrew_api_request_duration_seconds_count"

    def served_by() -> int:
        """How many worker processes have counted a request (one histogram file each)."""
        return len(list(folder.glob("histogram_*.db")))

    try:
        before = value(scrape(f"{base}/metrics"), count, **route)
        sent = 0
        # a fresh connection each: the workers share the socket, so both get some
        while sent < 20 or (served_by() < 2 and sent < 500):
            assert httpx.get(f"{base}/i18n/en.json", timeout=10).status_code == 200
            sent += 1
        scrapes = [value(scrape(f"{base}/metrics"), count, **route) for _ in range(6)]
    finally:
        stop_process(proc)
    assert served_by() == 2, "one worker served every request"
    assert before == 0
    assert scrapes == [sent] * 6, (sent, scrapes)


def test_metrics_of_the_modbus_bridge_count_its_polls(db_url: str):
    """The bridge (no devices answering here) counts failed polls and the comm_loss they
    raise, and serves none of the MQTT worker's gauges: a broker_connected of 0 would
    page as a broker outage."""
    from tests.conftest import service_env, stop_process

    port = free_port()
    bridge = stack.spawn(
        "modbus-bridge",
        # ports nothing listens on (the demo's 15020/15021 may be another stack's)
        ["gateway", "modbus", "--port-override", f"RTU-F3={free_port()}"]
        + ["--port-override", f"M3P-001={free_port()}"],
        service_env(db_url, GRIDCREW_MODBUS_METRICS_PORT=str(port)),
    )
    try:
        bridge.wait_line("modbus bridge polling")
        url = f"http://127.0.0.1:{port}/metrics"

        def comm_lost() -> Samples | None:
            now = scrape(url)
            return now if value(now, "gridcrew_modbus_comm_loss_total") else None

        lost = stack.wait_for(comm_lost, 60, "a comm_loss")
    finally:
        stop_process(bridge.proc, 30)
    with db.connect(db_url, autocommit=True) as conn:
        raised = conn.execute(
            "SELECT count(*) AS n FROM device_events WHERE event_name = 'comm_loss'"
        ).fetchone()["n"]
    assert value(lost, "gridcrew_modbus_polls_total", result="failed") >= 3
    assert value(lost, "gridcrew_modbus_polls_total", result="ok") == 0
    assert 1 <= value(lost, "gridcrew_modbus_comm_loss_total") <= raised
    assert not any(name == "gridcrew_gateway_broker_connected" for name, _ in lost)
