"""Field events move an application's stages: the crew's arrival on a survey job
(``inspection``) reaches ``survey``, its arrival on the installation reaches
``construction`` and the installation's sign-off reaches ``energized``, each at the
event's own time. Stages the field skipped are reached at the same time, one by one,
so the history stays complete. Runs in the caller's transaction; never moves a stage
backwards and does nothing for jobs without an application (the desk's manual moves
in ``/v1/applications/{number}/stage`` stay for what has no field event).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from mobile_api.track import service, stages

ON_ARRIVAL = {"inspection": "survey", "meter_install": "construction"}
ON_SIGNOFF = {"meter_install": "energized"}


def stages_to(current: str, target: str) -> list[str]:
    """The stages to pass, in order, to bring *current* up to *target* (none if there)."""
    i, j = stages.STAGES.index(current), stages.STAGES.index(target)
    return list(stages.STAGES[i + 1 : j + 1])


def _job(conn: psycopg.Connection, work_order_id: int) -> dict | None:
    return conn.execute(
        "SELECT w.kind, w.application_number, w.arrived_at, a.stage"
        " FROM work_orders w JOIN applications a ON a.number = w.application_number"
        " WHERE w.id = %s FOR UPDATE OF a",
        (work_order_id,),
    ).fetchone()


def _advance(
    conn: psycopg.Connection, job: dict, target: str | None, actor: str, at: datetime
) -> None:
    if target is None:
        return
    for stage in stages_to(job["stage"], target):
        service.move_stage(conn, job["application_number"], stage, actor, at)


def arrived(conn: psycopg.Connection, work_order_id: int, *, actor: str, at: datetime) -> None:
    """The crew is on site: survey (or construction) reached at its accepted check-in."""
    job = _job(conn, work_order_id)
    if job is not None:
        _advance(conn, job, ON_ARRIVAL.get(job["kind"]), actor, job["arrived_at"] or at)


def signed_off(conn: psycopg.Connection, work_order_id: int, *, actor: str, at: datetime) -> None:
    """The customer signed the installation off: energized at the signature's time."""
    job = _job(conn, work_order_id)
    if job is not None:
        _advance(conn, job, ON_SIGNOFF.get(job["kind"]), actor, at)
