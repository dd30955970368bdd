"""The payload contract: OBIS and IEC 61968-9 names, JSON Schema export, compose file."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import pydantic
import pytest
import yaml

from schemas import telemetry
from tests.conftest import ROOT


def test_reading_accepts_obis_codes_and_readable_names():
    by_code = telemetry.MeterReading.model_validate(
        {
            "device_id": "MTR-000001",
            "time": "2026-12-01T08:00:00Z",
            "values": {"1-0:32.7.0": 229.5, "1-0:1.8.0": 1200.5},
        }
    )
    by_name = telemetry.MeterReading.model_validate(
        {
            "device_id": "MTR-000001",
            "time": "2026-12-01T08:00:00Z",
            "values": {"voltage_v": 229.5, "energy_import_kwh": 1200.5},
        }
    )
    assert by_code == by_name
    assert by_code.model_dump(by_alias=True, mode="json")["values"]["1-0:32.7.0"] == 229.5


@pytest.mark.parametrize("values", [{"1-0:32.7.0": -5}, {"1-0:13.7.0": 3}, {"bogus": 1}])
def test_reading_rejects_impossible_or_unknown_values(values):
    with pytest.raises(pydantic.ValidationError):
        telemetry.MeterReading.model_validate(
            {"device_id": "MTR-000001", "time": "2026-12-01T08:00:00Z", "values": values}
        )


def test_events_carry_iec_61968_9_codes():
    e = telemetry.event(
        "MTR-000001", "1", datetime(2026, 12, 1, tzinfo=UTC), telemetry.EventName.last_gasp
    )
    assert e.code == "10.26.80.59"
    assert telemetry.EVENT_CODES[telemetry.EventName.power_up] == "0.26.38.49"
    assert telemetry.EVENT_CODES[telemetry.EventName.tamper] == "0.12.43.257"


def test_schemas_export_cli_writes_json_schema(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", "schemas", "export", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "MeterReading.schema.json").read_text())
    assert "1-0:32.7.0" in json.dumps(doc)


def test_compose_file_declares_the_stack():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = doc["services"]
    assert {"timescaledb", "mosquitto", "gateway", "dispatcher", "api", "simulators"} <= set(
        services
    )
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto")
    for name in ("gateway", "dispatcher", "api", "simulators"):
        assert services[name]["image"] == services["api"]["image"]
