"""``gridcrew audit consistency``: print every violation of the day's invariants."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridcrew import db
from gridcrew.config import get_settings
from gridcrew.periods import BadPeriod, local_period


def consistency(
    start: Annotated[
        str | None,
        typer.Option("--from", help="Period of the KPIs and report: a date or a time; today"),
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Period end; one day on")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Check the board, KPIs, report and lookups against the database (exit 1: violations)."""
    from datetime import datetime

    from ops.consistency.service import check

    settings = get_settings()
    zone = settings.local_zone
    try:
        period = local_period(start or datetime.now(zone).date().isoformat(), end, zone)
    except BadPeriod as e:
        raise typer.BadParameter(str(e)) from None
    with db.connect() as conn, conn.transaction():
        result = check(conn, settings, *period)
    violations = result["violations"]
    if as_json:
        typer.echo(json.dumps(result, default=str, indent=2))
    else:
        checked = ", ".join(f"{v} {k}" for k, v in result["checked"].items())
        typer.echo(
            f"consistency as of {result['as_of'].astimezone(zone):%Y-%m-%d %H:%M:%S %Z},"
            f" period {period[0]:%Y-%m-%d %H:%M} - {period[1]:%Y-%m-%d %H:%M} ({zone});"
            f" checked {checked}"
        )
        for v in violations:
            typer.echo(f"VIOLATION {v['invariant']}: {v['message']}")
            for row in v["rows"]:
                typer.echo(f"    {json.dumps(row, default=str)}")
        typer.echo(f"{len(violations)} violation(s)")
    raise typer.Exit(1 if violations else 0)
