"""The invariants of a live day as pure functions: rows in, violations out.

No database, no clock: the shell (``ops.consistency.service``) loads the rows
and the figures the API shows, and passes ``now``. Each function names its invariant
and returns every violation with the rows involved, never just a count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mobile_api.board import geo
from mobile_api.track import stages

Row = dict[str, Any]

ON_TIME_COLOURS = ("green", "amber", "red")
BUSY_STATUSES = ("en_route", "on_site")
UNDER_WAY = ("open", "assigned", "accepted", "en_route", "on_site")
# The stage an application has reached at the least, given its jobs' field events.
_STAGE_AFTER = {
    ("inspection", "arrived"): "survey",
    ("meter_install", "arrived"): "construction",
    ("meter_install", "signed_off"): "energized",
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    rows: list[Row] = field(default_factory=list)


def etas_follow_timetable(
    assignments: Iterable[Row], timetable: dict[int, datetime], tolerance: timedelta
) -> list[Violation]:
    """Every active assignment's ETA equals the solver's timetable for its crew (within
    *tolerance*: the dispatcher refreshes an ETA only once it moved by a little)."""
    out = []
    for a in assignments:
        want = timetable.get(a["work_order_id"])
        if want is None or a["status"] == "on_site":
            continue  # not planned now (crew off shift), or already there
        got = a["planned_arrival"]
        if got is None or abs(got - want) > tolerance:
            out.append(
                Violation(
                    "eta_follows_timetable",
                    f"{a['number']} ({a['status']}) with {a['crew_id']}: ETA {got} but the"
                    f" timetable of its crew says {want.isoformat()}",
                    [{**a, "timetable_eta": want}],
                )
            )
    return out


def late_is_shown_late(jobs: Iterable[Row]) -> list[Violation]:
    """No job is shown on time whose ETA is past its deadline (board job properties)."""
    out = []
    for p in jobs:
        if p["arrived_at"] or p["eta"] is None or p["deadline"] is None:
            continue
        if datetime.fromisoformat(p["eta"]) > datetime.fromisoformat(p["deadline"]) and (
            p["urgency"] in ON_TIME_COLOURS
        ):
            out.append(
                Violation(
                    "late_is_shown_late",
                    f"{p['number']}: ETA {p['eta']} is past its deadline {p['deadline']}"
                    f" yet the board shows it {p['urgency']}",
                    [p],
                )
            )
    return out


def one_deadline_per_job(work_orders: Iterable[Row], jobs: Iterable[Row]) -> list[Violation]:
    """An installation's due time is not inside its own appointment window, and the
    board's deadline is the one the dispatcher plans against (``geo.job_deadline``)."""
    shown = {p["id"]: p["deadline"] for p in jobs}
    out = []
    for w in work_orders:
        if w["window_end"] and w["due_at"] and w["window_start"] <= w["due_at"] < w["window_end"]:
            out.append(
                Violation(
                    "one_deadline_per_job",
                    f"{w['number']}: due {w['due_at']} lies inside its own window"
                    f" {w['window_start']} - {w['window_end']}",
                    [w],
                )
            )
        want = geo.job_deadline(w)
        if w["id"] in shown and shown[w["id"]] != (want.isoformat() if want else None):
            out.append(
                Violation(
                    "one_deadline_per_job",
                    f"{w['number']}: the board shows deadline {shown[w['id']]},"
                    f" the dispatcher plans against {want}",
                    [w],
                )
            )
    return out


def crew_state_follows_jobs(crews: Iterable[Row], jobs: Iterable[Row]) -> list[Violation]:
    """A crew is busy exactly while one of its jobs is en route or on site, and is en
    route to one job at a time (off-shift and offline crews are left alone)."""
    by_crew: dict[str, list[Row]] = defaultdict(list)
    for j in jobs:
        by_crew[j["crew_id"]].append(j)
    out = []
    for c in crews:
        mine = by_crew.get(c["id"], [])
        busy = [j for j in mine if j["status"] in BUSY_STATUSES]
        if c["state"] in ("available", "busy") and (c["state"] == "busy") != bool(busy):
            out.append(
                Violation(
                    "crew_state_follows_jobs",
                    f"{c['id']} is {c['state']} with {len(busy)} job(s) en route or on site",
                    [c, *busy],
                )
            )
        driving = [j for j in mine if j["status"] == "en_route"]
        if len(driving) > 1:
            out.append(
                Violation(
                    "crew_state_follows_jobs",
                    f"{c['id']} is en route to {len(driving)} jobs at once",
                    [c, *driving],
                )
            )
    return out


def stale_fixes_flagged(crews: Iterable[Row], now: datetime) -> list[Violation]:
    """A crew with no fix for ``geo.STALE_FIX_MIN`` minutes is flagged on the board."""
    out = []
    for p in crews:
        fix = datetime.fromisoformat(p["last_fix_at"]) if p["last_fix_at"] else None
        stale = fix is None or now - fix >= timedelta(minutes=geo.STALE_FIX_MIN)
        if stale != p["stale_fix"]:
            out.append(
                Violation(
                    "stale_fix_flagged",
                    f"{p['id']}: last fix {p['last_fix_at']}, stale_fix shown {p['stale_fix']}",
                    [p],
                )
            )
    return out


def stages_follow_field_events(
    applications: Iterable[Row], field_events: Iterable[Row], reached: Iterable[Row]
) -> list[Violation]:
    """Every application's stage is at least what its work orders' field events say,
    and every stage it reached has its time in the history."""
    least: dict[str, tuple[str, Row]] = {}
    for e in field_events:
        target = _STAGE_AFTER.get((e["kind"], e["event"]))
        if target is None:
            continue
        known = least.get(e["application_number"])
        if known is None or stages.STAGES.index(target) > stages.STAGES.index(known[0]):
            least[e["application_number"]] = (target, e)
    history = defaultdict(set)
    for r in reached:
        history[r["application_number"]].add(r["stage"])
    out = []
    for a in applications:
        i = stages.STAGES.index(a["stage"])
        want = least.get(a["number"])
        if want is not None and i < stages.STAGES.index(want[0]):
            out.append(
                Violation(
                    "stage_follows_field_events",
                    f"{a['number']} is at {a['stage']} although its work order"
                    f" {want[1]['number']} was {want[1]['event']} ({want[0]} expected)",
                    [a, want[1]],
                )
            )
        missing = [s for s in stages.STAGES[1 : i + 1] if s not in history[a["number"]]]
        if missing:
            out.append(
                Violation(
                    "stage_follows_field_events",
                    f"{a['number']} is at {a['stage']} with no time for {', '.join(missing)}",
                    [a],
                )
            )
    return out


def restored_incidents_closed(incidents: Iterable[Row]) -> list[Violation]:
    """No incident stays open when every repair on it is done and its meters report
    supply (a customer-report incident, which no meter closes, closes with its repair)."""
    out = []
    for i in incidents:
        if i["repairs"] and i["repairs_under_way"] == 0 and i["meters_dark"] == 0:
            out.append(
                Violation(
                    "restored_incident_closed",
                    f"incident {i['id']} ({i['cause']}) is open with all {i['repairs']}"
                    " repair(s) done and no meter of it dark",
                    [i],
                )
            )
    return out


def _recount_arrivals(faults: Iterable[Row], now: datetime) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"due": 0, "within": 0})
    for f in faults:
        due = f["arrived_at"] is not None or f["arrival_deadline"] < now
        within = f["arrived_at"] is not None and f["arrived_at"] <= f["arrival_deadline"]
        for key in (f["area"] or "unassigned", "all"):
            counts[key]["due"] += due
            counts[key]["within"] += within
    return counts


def kpis_equal_recount(
    faults: list[Row], now: datetime, kpi: Row, report_summary: Row, strip: Row, crews: list[Row]
) -> list[Violation]:
    """The arrival KPI of ``/v1/kpi``, the report's figures and the map's crew counts
    equal a recount from the raw rows of the same period."""
    out = []
    recount = _recount_arrivals(faults, now)
    for area in ("urban", "rural", "all"):
        want = recount.get(area, {"due": 0, "within": 0})
        got = kpi["arrival_within_deadline"][area]
        if (got["due"], got["within"]) != (want["due"], want["within"]):
            out.append(
                Violation(
                    "kpi_equals_recount",
                    f"/v1/kpi {area}: {got['within']} of {got['due']} due; raw rows say"
                    f" {want['within']} of {want['due']}",
                    [got, want],
                )
            )
        if area != "all":
            shown = (report_summary[f"due_{area}"], report_summary[f"on_time_{area}"])
            if shown != (want["due"], want["within"]):
                out.append(
                    Violation(
                        "kpi_equals_recount",
                        f"report {area}: {shown[1]} of {shown[0]} due; raw rows say"
                        f" {want['within']} of {want['due']}",
                        [want],
                    )
                )
    busy = sum(1 for c in crews if c["state"] == "busy")
    if strip["busy"] != busy:
        out.append(
            Violation(
                "kpi_equals_recount",
                f"the map's strip says {strip['busy']} busy, the crews table {busy}",
                [strip],
            )
        )
    return out


def utilisation_within_elapsed(
    utilisation: Iterable[Row], start: datetime, end: datetime, now: datetime
) -> list[Violation]:
    """No crew is on site for longer than the part of the period that has passed."""
    elapsed_h = max((min(end, now) - start).total_seconds(), 0) / 3600
    return [
        Violation(
            "kpi_equals_recount",
            f"report: {u['crew_id']} on site {float(u['hours_on_site']):.2f} h of"
            f" {elapsed_h:.2f} h elapsed",
            [u],
        )
        for u in utilisation
        if float(u["hours_on_site"]) > elapsed_h + 1e-6
    ]


def notice_rate_counts_delivered(planned: Row, delivered_in_advance: int) -> list[Violation]:
    """The planned-outage notice rate counts a notice once delivered (``sent_at``)."""
    if planned["customers_notified_in_advance"] == delivered_in_advance:
        return []
    return [
        Violation(
            "kpi_equals_recount",
            f"planned outages: {planned['customers_notified_in_advance']} customers counted"
            f" notified, {delivered_in_advance} notices delivered before the outage",
            [planned],
        )
    ]


def notifications_settled(notifications: Iterable[Row]) -> list[Violation]:
    """Every notification is delivered, or pending with a next attempt."""
    return [
        Violation(
            "notification_settled",
            f"notification {n['id']} ({n['kind']} to {n['recipient']}) is neither delivered"
            " nor due for another attempt",
            [n],
        )
        for n in notifications
        if n["sent_at"] is None and n["due_at"] is None
    ]


def numbers_resolve(given: Iterable[Row]) -> list[Violation]:
    """Every number a customer was given resolves for that customer (number + digits)."""
    return [
        Violation(
            "number_resolves",
            f"{g['number']} was given to customer {g['customer_id']} ({g['how']}) but does"
            " not resolve with their phone digits",
            [g],
        )
        for g in given
        if not g["resolves"]
    ]
