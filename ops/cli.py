"""The one command line: ``gridcrew <sub-command>``.

Foundation commands live here; each service package adds its own through a
``register(app)`` function in its ``cli`` module, so this file never imports a
service's internals; the benchmarks are ``bench.cli``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bench.cli import bench_app
from gridcrew import db, progress
from gridcrew.config import get_settings
from ops.consistency.cli import consistency

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="GridCrew: field-crew backend and telemetry gateway.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
schemas_app = typer.Typer(no_args_is_help=True, help="Payload and API contracts.")
broker_app = typer.Typer(no_args_is_help=True, help="The project's own Mosquitto instance.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit chain.")
secrets_app = typer.Typer(
    no_args_is_help=True, help="The device secret, service password, JWT key."
)
ha_app = typer.Typer(
    no_args_is_help=True, help="A local PostgreSQL HA cluster: etcd + two Patroni nodes."
)
app.add_typer(db_app, name="db")
app.add_typer(schemas_app, name="schemas")
app.add_typer(broker_app, name="broker")
app.add_typer(audit_app, name="audit")
audit_app.command("consistency")(consistency)
app.add_typer(secrets_app, name="secrets")
app.add_typer(bench_app, name="bench")
app.add_typer(ha_app, name="ha")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (forward only, no data loss)."""
    with progress.progress("applying migrations"):
        applied = db.migrate()
    typer.echo(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@db_app.command("retention")
def db_retention(
    keep_days: Annotated[int, typer.Option(help="Keep this many days of telemetry")] = 400,
) -> None:
    """Drop telemetry chunks older than the retention period (run it from cron)."""
    with db.transaction() as conn:
        for table in ("meter_readings", "device_events", "crew_positions"):
            dropped = conn.execute(
                "SELECT count(*) AS n FROM drop_chunks(%s::regclass, older_than => %s::interval)",
                (table, f"{keep_days} days"),
            ).fetchone()["n"]
            typer.echo(f"{table}: dropped {dropped} chunk(s) older than {keep_days} days")


@app.command("report")
def report(
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Period start: a date (that day in the local zone) or a time (local"
            " without an offset); default today",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Period end (exclusive); default one day on")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html")] = Path("var/report"),
) -> None:
    """Write the service-quality report (HTML with embedded plots), times in the local zone."""
    from gridcrew.periods import BadPeriod, local_period
    from ops.report import write

    zone = get_settings().local_zone
    try:
        start_at, end_at = local_period(start or datetime.now(zone).date().isoformat(), end, zone)
    except BadPeriod as e:
        raise typer.BadParameter(str(e)) from None
    if end_at <= start_at:
        raise typer.BadParameter("--to must be after --from")
    with (
        progress.progress("computing the report"),
        db.connect(get_settings().database_read_url) as conn,  # a standby, when set
    ):
        path = write(conn, start_at, end_at, out, zone)
    typer.echo(f"wrote {path}")


@app.command("seed-demo")
def seed_demo(
    seed: Annotated[int, typer.Option(help="Territory seed")] = 1,
    replace: Annotated[bool, typer.Option(help="Empty the territory and its data first")] = False,
) -> None:
    """Load the deterministic demo territory (Jiaxing)."""
    from gridcrew import audit
    from simulators.demo.seed import is_seeded
    from simulators.demo.seed import seed as do_seed

    with progress.progress("loading the demo territory") as steps:
        with db.transaction() as conn:
            already = is_seeded(conn)
            t = do_seed(conn, seed, replace=replace)
        steps.step("sealing the audit chain")
        with db.connect(autocommit=True) as conn:
            audit.seal_all(conn)
    if already and not replace:
        typer.echo("demo territory already loaded (use --replace to reload)")
    else:
        typer.echo(
            f"loaded territory seed {seed}: {len(t.meters)} meters, "
            f"{len(t.sections)} sections, {len(t.crews)} crews"
        )


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="Write to this folder instead of stdout")] = None,
) -> None:
    """Export the JSON Schema of every MQTT payload."""
    from schemas.export import export_all

    docs = export_all()
    if out is None:
        typer.echo(json.dumps(docs, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (out / f"{name}.schema.json").write_text(json.dumps(doc, indent=2) + "\n")
    typer.echo(f"wrote {len(docs)} schemas to {out}")


@broker_app.command("render")
def broker_render(
    directory: Annotated[Path, typer.Option(help="Where the broker's files go")] = Path(
        "var/mosquitto"
    ),
) -> None:
    """Write the broker's config, device passwords and ACL from the devices table."""
    from gridcrew import broker
    from gridcrew.secret_policy import require

    require("gridcrew broker render", ("device_secret", "service_password"))
    s = get_settings()
    addr = broker.BrokerAddress.from_url(s.mqtt_url)
    with db.connect() as conn:
        ids = broker.device_ids_from_db(conn)
    directory = directory.resolve()
    tls = broker.tls_listener(directory, addr.host, s.mqtt_tls_port)
    conf = broker.render(directory, ids, host=addr.host, port=addr.port, tls_listener=tls)
    typer.echo(f"broker config for {len(ids)} devices: {conf}")


@broker_app.command("device-cert")
def broker_device_cert(
    device_id: str,
    out: Annotated[Path, typer.Option(help="Folder for the device's key and certificate")],
    directory: Annotated[Path, typer.Option(help="The broker's folder")] = Path("var/mosquitto"),
) -> None:
    """Issue a client certificate (CN = device id) from the broker's local CA."""
    from gridcrew import pki

    files = pki.ensure_broker_pki(directory.resolve() / "tls")
    cert, key = pki.issue_device_cert(files, device_id, out)
    typer.echo(f"certificate {cert}\nkey         {key}\nCA          {files.ca_cert}")


@broker_app.command("device-password")
def broker_device_password(device_id: str) -> None:
    """Print the broker password of one device (for configuring real hardware)."""
    from gridcrew.secret_policy import require
    from gridcrew.security import device_password

    require("gridcrew broker device-password", ("device_secret",))
    typer.echo(device_password(device_id, get_settings().device_secret))


@secrets_app.command("generate")
def secrets_generate(
    out: Annotated[Path | None, typer.Option(help="The env file (default var/secrets.env)")] = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option(
            help="Replace this one even if present: device_secret, service_password"
            " or jwt_secret (repeatable); docs/security.md says what else to do"
        ),
    ] = None,
) -> None:
    """Write a random value for each secret the env file lacks (never prints one)."""
    from gridcrew.config import SECRETS_FILE
    from gridcrew.secret_policy import ALL, write_missing

    unknown = sorted(set(rotate or []) - set(ALL))
    if unknown:
        raise typer.BadParameter(
            f"unknown secrets {unknown}; use {list(ALL)}", param_hint="--rotate"
        )
    path = out or SECRETS_FILE
    written = write_missing(path, ALL)
    if rotate:
        written += write_missing(path, rotate, replace=True)
    typer.echo(f"{path}: " + (f"wrote {', '.join(written)}" if written else "all three present"))


@audit_app.command("seal")
def audit_seal() -> None:
    """Chain the committed entries not sealed yet (the API does this every half second)."""
    from gridcrew import audit

    with db.connect(autocommit=True) as conn:
        typer.echo(f"sealed {audit.seal_all(conn)} entries")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; name every edited or deleted entry."""
    from gridcrew import audit

    with db.connect(autocommit=True) as conn:
        audit.seal_all(conn)
        result = audit.verify(conn)
    if result["ok"]:
        typer.echo(f"audit chain intact: {result['entries']} entries")
        return
    for p in result["problems"]:
        typer.echo(f"entry {p['entry_id']}: {p['kind']}: {p['detail']}")
    raise typer.Exit(1)


HaDir = Annotated[Path, typer.Option(help="Where the cluster's configs, data and logs live")]
HaTuned = Annotated[
    bool, typer.Option(help="Patroni's tuned timing (ttl 8 s) instead of its defaults (30 s)")
]


def _ha_cluster(directory: Path, tuned: bool = False):
    from ops import ha

    timing = ha.TUNED_TIMING if tuned else ha.DEFAULT_TIMING
    return ha.Cluster(directory.resolve(), timing=timing)


@ha_app.command("up")
def ha_up(directory: HaDir = Path("var/ha"), tuned: HaTuned = False) -> None:
    """Start etcd (2379) and two Patroni/PostgreSQL nodes (5441, 5442); print the URL."""
    from ops import ha

    cluster = _ha_cluster(directory, tuned)
    state = ha.up(cluster)
    typer.echo(f"primary {state['primary']}; synchronous standby ready; logs in {directory}/")
    typer.echo(f"export GRIDCREW_DATABASE_URL='{cluster.url()}'")
    typer.echo(f"export GRIDCREW_DATABASE_READ_URL='{cluster.read_url()}'")


@ha_app.command("status")
def ha_status(directory: HaDir = Path("var/ha")) -> None:
    """Patroni's view of the cluster (JSON)."""
    from ops import ha

    typer.echo(json.dumps(ha.members(_ha_cluster(directory)), indent=2))


@ha_app.command("down")
def ha_down(directory: HaDir = Path("var/ha")) -> None:
    """Stop both nodes and etcd (the data stay in the folder)."""
    from ops import ha

    ha.down(_ha_cluster(directory))
    typer.echo("HA cluster stopped")


@app.command("doctor")
def doctor() -> None:
    """Check database, TimescaleDB, migrations, broker, photo storage; print a fix per failure."""
    from gridcrew.health import check
    from mobile_api.storage import check_storage

    report = check(more={"storage": check_storage})
    for name, part in report["checks"].items():
        mark = "ok  " if part["ok"] else "FAIL"
        typer.echo(f"[{mark}] {name}: {part.get('detail', '')}")
        if not part["ok"] and part.get("fix"):
            typer.echo(f"       fix: {part['fix']}")
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("up")
def up(
    simulators: Annotated[bool, typer.Option(help="Run the demo simulators too")] = True,
) -> None:
    """Run broker, gateway, dispatcher, API and simulators in the foreground (Ctrl-C stops)."""
    from ops.supervisor import run_stack

    raise typer.Exit(run_stack(simulators=simulators))


def _register_services() -> None:
    import dispatch.cli
    import gateway.cli
    import mobile_api.cli
    import simulators.cli

    for module in (gateway.cli, dispatch.cli, mobile_api.cli, simulators.cli):
        module.register(app)


_register_services()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
