"""Health of the stack's parts, shared by ``GET /healthz`` and ``gridcrew doctor``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gridcrew import db
from gridcrew.config import get_settings


def check_database(url: str | None = None) -> dict[str, Any]:
    try:
        with db.connect(url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            ).fetchone()
    except Exception as exc:  # any connection failure is a health answer, not a crash
        return {
            "ok": False,
            "detail": str(exc).strip(),
            "fix": "start PostgreSQL (./dev up does) or set GRIDCREW_DATABASE_URL",
        }
    if not row:
        return {
            "ok": False,
            "detail": "timescaledb extension not installed in this database",
            "fix": "run ./dev up (it builds TimescaleDB) then gridcrew db migrate",
        }
    return {
        "ok": True,
        "timescaledb": row["extversion"],
        "detail": f"timescaledb {row['extversion']}",
    }


def check_migrations(url: str | None = None) -> dict[str, Any]:
    try:
        status = db.migration_status(url)
    except Exception as exc:
        return {"ok": False, "detail": str(exc).strip(), "fix": "gridcrew db migrate"}
    detail = (
        f"{status['known']} applied" if status["ok"] else f"pending: {', '.join(status['pending'])}"
    )
    return {**status, "detail": detail, "fix": "gridcrew db migrate"}


def check_broker(url: str | None = None, timeout: float = 3.0) -> dict[str, Any]:
    from gridcrew.mqtt import broker_address, service_client

    addr = broker_address(url)
    connected = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["reason"] = str(reason_code)
        if not reason_code.is_failure:
            connected.set()
        else:
            connected.set()
            result["failed"] = True

    client = service_client("gridcrew-health", "svc-monitor")
    client.on_connect = on_connect
    try:
        client.connect(addr.host, addr.port, keepalive=10)
        client.loop_start()
        connected.wait(timeout)
    except OSError as exc:
        return {
            "ok": False,
            "detail": f"{addr.host}:{addr.port}: {exc}",
            "fix": "start the project's broker (./dev up does; gridcrew broker render)",
        }
    finally:
        client.loop_stop()
        client.disconnect()
    if not connected.is_set():
        return {
            "ok": False,
            "detail": f"no answer from {addr.host}:{addr.port}",
            "fix": "check GRIDCREW_MQTT_URL",
        }
    if result.get("failed"):
        return {
            "ok": False,
            "detail": f"refused: {result['reason']}",
            "fix": "re-render the broker's passwords: gridcrew broker render",
        }
    return {"ok": True, "detail": f"{addr.host}:{addr.port}"}


def check_secrets() -> dict[str, Any]:
    """The three secrets are set, not a published default, and strong enough."""
    from gridcrew.secret_policy import problems

    found = problems(get_settings())
    if not found:
        return {"ok": True, "detail": "device secret, service password and JWT key set"}
    return {
        "ok": False,
        "detail": "; ".join(str(p) for p in found),
        "fix": "gridcrew secrets generate (writes var/secrets.env), or set each variable to "
        "the output of: python3 -c 'import secrets; print(secrets.token_hex(32))'",
    }


def check(
    database_url: str | None = None,
    mqtt_url: str | None = None,
    more: dict[str, Callable[[], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Database, migrations and broker, then each of *more* (a service's own parts, such as
    the API's photo storage): every part with ``ok``, ``detail`` and, on failure, ``fix``."""
    s = get_settings()
    checks = {
        "secrets": check_secrets(),
        "database": check_database(database_url or s.database_url),
        "migrations": check_migrations(database_url or s.database_url),
        "broker": check_broker(mqtt_url or s.mqtt_url),
        **{name: part() for name, part in (more or {}).items()},
    }
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
