"""deploy/prometheus/ and deploy/grafana/: valid for promtool (scripts/setup.d/promtool.sh
unpacks it) or, without it, structurally; and every metric they name is one the code
defines, every target one that ``gridcrew up`` and compose.yaml serve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gridcrew.config import Settings
from ops.supervisor import METRICS_PORTS
from tests.conftest import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "gridcrew.json"
METRIC = re.compile(r"\b(gridcrew_[a-z_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def promtool() -> str | None:
    local = ROOT / ".cache" / "prometheus" / "usr" / "bin" / "promtool"
    return str(local) if local.exists() else shutil.which("promtool")


def defined_metrics() -> set[str]:
    """Every metric family the services define (their modules register them)."""
    from prometheus_client import REGISTRY

    import dispatch.metrics  # noqa: F401  (importing a metrics module registers its metrics)
    from gateway.metrics import WORKER_GAUGES
    from mobile_api.metrics import AuditSealing

    names = {m.name for m in REGISTRY.collect()} | {m.name for m in AuditSealing.families()}
    names |= {name for name, _ in WORKER_GAUGES.values()}  # registered by MQTT workers only
    assert {"gridcrew_gateway_rows_committed", "gridcrew_dispatch_leader"} <= names
    return names


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def exprs() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    out = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads(DASHBOARD.read_text())
    out += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    return out


@pytest.mark.parametrize("config", ["prometheus.yml", "compose.yml"])
def test_metrics_prometheus_config_is_valid(config: str):
    tool = promtool()
    if tool:
        for args in (["check", "config", config], ["test", "rules", "alerts_test.yml"]):
            out = subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr
        return
    # no promtool: the structure promtool would insist on
    doc = yaml.safe_load((PROMETHEUS / config).read_text())
    assert all((PROMETHEUS / f).is_file() for f in doc["rule_files"])
    for job in doc["scrape_configs"]:
        assert job["job_name"].startswith("gridcrew-")
        assert all(
            re.fullmatch(r"[\w.-]+:\d+", t) for s in job["static_configs"] for t in s["targets"]
        )
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"] and re.fullmatch(r"\d+[smh]", rule["for"])


def test_metrics_alerts_and_dashboard_name_only_defined_metrics():
    defined = defined_metrics()
    named = {family(m) for e in exprs() for m in METRIC.findall(e)}
    assert named, "no gridcrew metric in the alerts and dashboard"
    assert named <= defined, f"not defined by any service: {sorted(named - defined)}"
    alerts = {
        r["alert"]
        for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    # what the issue asks a utility to be paged on
    assert {
        "GridCrewIngestLagHigh",
        "GridCrewDeadLetters",
        "GridCrewNoLeaderDispatcher",
        "GridCrewFaultRepairLateWithIdleCrew",
        "GridCrewAuditSealingLag",
        "GridCrewBrokerDown",
    } <= alerts


def test_metrics_scrape_targets_are_the_ports_served():
    local = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    ports = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in local["scrape_configs"]}
    api_port = Settings.model_fields["api_port"].default
    assert ports == {
        "gridcrew-api": f"127.0.0.1:{api_port}",
        **{f"gridcrew-{name}": f"127.0.0.1:{port}" for name, port in METRICS_PORTS.items()},
    }
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env = compose["x-gridcrew"]["environment"]
    served = {
        "api": api_port,
        "gateway": int(env["GRIDCREW_GATEWAY_METRICS_PORT"]),
        "dispatcher": int(env["GRIDCREW_DISPATCH_METRICS_PORT"]),
        "modbus-bridge": int(env["GRIDCREW_MODBUS_METRICS_PORT"]),
    }
    in_compose = yaml.safe_load((PROMETHEUS / "compose.yml").read_text())
    for job in in_compose["scrape_configs"]:
        host, port = job["static_configs"][0]["targets"][0].split(":")
        assert host in compose["services"] and served[host] == int(port), job
    assert Path(PROMETHEUS / "alerts_test.yml").is_file()
