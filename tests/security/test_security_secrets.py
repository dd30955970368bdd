"""No public default secret: every service refuses to start on a missing, short or
published secret, naming the variable and how to generate one; doctor fails on them;
a token signed with the old published key is refused."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import jwt
import pytest

from gridcrew.secret_policy import KNOWN_DEFAULTS
from tests.conftest import ROOT, service_env, start_api, stop_process

OLD_JWT_DEFAULT = "dev-only-jwt-secret-change-me-0123456789"
OLD_DEVICE_DEFAULT = "dev-only-device-secret"
OLD_SERVICE_DEFAULT = "dev-only-service-password"

GRIDCREW = [sys.executable, "-m", "gridcrew"]
UVICORN = [sys.executable, "-m", "uvicorn", "mobile_api.asgi:app", "--port", "1"]

# (what starts, the secret it needs, the bad value)
SERVICES = [
    pytest.param(UVICORN, "GRIDCREW_JWT_SECRET", OLD_JWT_DEFAULT, id="uvicorn-api-default"),
    pytest.param(GRIDCREW + ["api"], "GRIDCREW_JWT_SECRET", "", id="api-missing"),
    pytest.param(GRIDCREW + ["api"], "GRIDCREW_JWT_SECRET", "s3cret", id="api-short"),
    pytest.param(GRIDCREW + ["gateway"], "GRIDCREW_SERVICE_PASSWORD", "", id="gateway-missing"),
    pytest.param(
        GRIDCREW + ["gateway", "modbus"],
        "GRIDCREW_SERVICE_PASSWORD",
        OLD_SERVICE_DEFAULT,
        id="modbus-bridge-default",
    ),
    pytest.param(
        GRIDCREW + ["dispatch"], "GRIDCREW_SERVICE_PASSWORD", OLD_SERVICE_DEFAULT, id="dispatch"
    ),
    pytest.param(
        GRIDCREW + ["simulate", "meters", "--count", "1"],
        "GRIDCREW_DEVICE_SECRET",
        OLD_DEVICE_DEFAULT,
        id="meter-simulator-default",
    ),
    pytest.param(
        GRIDCREW + ["simulate", "demo"], "GRIDCREW_DEVICE_SECRET", "", id="demo-simulators"
    ),
    pytest.param(GRIDCREW + ["up"], "GRIDCREW_JWT_SECRET", "a" * 40, id="up-too-simple"),
    pytest.param(
        GRIDCREW + ["broker", "render", "--directory", "/nonexistent"],
        "GRIDCREW_DEVICE_SECRET",
        "",
        id="broker-render",
    ),
]


def test_security_old_defaults_are_known() -> None:
    assert {OLD_JWT_DEFAULT, OLD_DEVICE_DEFAULT, OLD_SERVICE_DEFAULT} <= KNOWN_DEFAULTS


@pytest.mark.parametrize(("command", "variable", "value"), SERVICES)
def test_security_service_refuses_to_start_without_a_usable_secret(
    template_db_url: str, command: list[str], variable: str, value: str
) -> None:
    """An empty value in the environment hides var/secrets.env's, as a missing file would."""
    out = subprocess.run(
        command,
        cwd=ROOT,
        env=service_env(template_db_url, **{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "refuses to start" in out.stderr
    assert variable in out.stderr
    assert "secrets.token_hex(" in out.stderr  # how to generate one
    if value:
        assert value not in out.stderr + out.stdout  # never echoes a secret


def test_security_forged_token_with_the_old_default_key_is_refused(api) -> None:
    forged = jwt.encode(
        {"sub": "admin", "role": "admin", "typ": "access", "exp": time.time() + 600},
        OLD_JWT_DEFAULT,
        algorithm="HS256",
    )
    for path in ("/v1/auth/me", "/v1/audit/verify"):
        r = httpx.get(f"{api.base_url}{path}", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, (path, r.status_code)


def test_security_doctor_fails_on_a_published_secret(db_url: str, broker) -> None:
    def doctor(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            GRIDCREW + ["doctor"],
            cwd=ROOT,
            env=service_env(db_url, **env),
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = doctor()
    assert "[ok  ] secrets" in good.stdout, good.stdout
    bad = doctor(GRIDCREW_JWT_SECRET=OLD_JWT_DEFAULT)
    assert bad.returncode == 1
    assert "[FAIL] secrets: GRIDCREW_JWT_SECRET is a published default" in bad.stdout
    assert OLD_JWT_DEFAULT not in bad.stdout


def test_security_dev_flag_is_the_only_way_to_run_on_a_weak_secret(db_url: str, broker) -> None:
    server = start_api(db_url, GRIDCREW_DEV="1", GRIDCREW_JWT_SECRET="short-dev-key")
    try:
        assert httpx.get(f"{server.base_url}/openapi.json").status_code == 200
    finally:
        stop_process(server.process)
