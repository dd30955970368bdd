"""The service-quality report: one HTML page with embedded PNG plots.

``gridcrew report --from --to --out DIR`` reads raw rows for the period
(work orders, check-ins, ratings, readings, dead letters) and draws what the
regulator and the manager ask about. It only reads; it never writes to the
database.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import psycopg  # noqa: E402

from gridcrew.config import get_settings  # noqa: E402
from ops import report_reliability  # noqa: E402

RATING_DIMENSIONS = ("attitude", "professional_skill", "response_speed", "process_standard")

# The faults the KPI counts (mobile_api.kpi): reported in the period, not cancelled,
# with a deadline. A fault is due once reached or once its deadline has passed; one
# neither reached nor late yet is no miss.
_FAULTS = """
FROM work_orders w JOIN service_areas a ON a.id = w.service_area_id
WHERE w.kind = 'fault_repair' AND w.status <> 'cancelled' AND w.arrival_deadline IS NOT NULL
  AND w.reported_at >= %(start)s AND w.reported_at < %(end)s
"""
_ARRIVALS = (
    """
SELECT a.kind AS area, w.number,
       extract(epoch FROM w.arrived_at - w.reported_at) / 60 AS arrival_min,
       extract(epoch FROM w.restored_at - w.reported_at) / 60 AS restoration_min,
       a.arrival_deadline_min AS deadline_min,
       w.arrived_at IS NOT NULL OR w.arrival_deadline < %(now)s AS due,
       coalesce(w.arrived_at <= w.arrival_deadline, false) AS on_time
"""
    + _FAULTS
)
_ON_TIME_BY_HOUR = (
    """
SELECT time_bucket('1 hour', w.reported_at) AS hour, a.kind AS area,
       count(*) FILTER (WHERE w.arrived_at IS NOT NULL OR w.arrival_deadline < %(now)s) AS due,
       count(*) FILTER (WHERE w.arrived_at <= w.arrival_deadline) AS on_time
"""
    + _FAULTS
    + " GROUP BY 1, 2 ORDER BY 1, 2"
)
# Time on site up to work done, or up to now while the crew is still there; never
# past the period's end nor past now.
_CREW_UTILISATION = """
SELECT c.id AS crew_id, count(w.id) AS jobs,
       coalesce(sum(extract(epoch FROM
           least(coalesce(w.work_done_at, %(now)s), %(end)s, %(now)s)
           - greatest(w.arrived_at, %(start)s)))
           FILTER (WHERE w.id IS NOT NULL) / 3600, 0)
           AS hours_on_site
FROM crews c
LEFT JOIN assignments s ON s.crew_id = c.id AND s.active
LEFT JOIN work_orders w ON w.id = s.work_order_id AND w.arrived_at IS NOT NULL
     AND w.arrived_at < least(%(end)s, %(now)s)
     AND coalesce(w.work_done_at, %(now)s) > %(start)s
GROUP BY c.id ORDER BY c.id
"""
_RATINGS = """
SELECT avg(attitude) AS attitude, avg(professional_skill) AS professional_skill,
       avg(response_speed) AS response_speed, avg(process_standard) AS process_standard,
       count(*) AS n
FROM ratings WHERE rated_at >= %(start)s AND rated_at < %(end)s
"""
_INSTALL_COMPLIANCE = """
SELECT count(*) FILTER (WHERE closed_at IS NOT NULL OR status = 'signed_off') AS done,
       count(*) FILTER (WHERE coalesce(closed_at, work_done_at) <= due_at) AS on_time,
       count(*) FILTER (WHERE coalesce(closed_at, work_done_at) IS NULL AND due_at < %(end)s)
           AS overdue_open,
       count(*) AS total
FROM work_orders
WHERE kind = 'meter_install' AND reported_at >= %(start)s AND reported_at < %(end)s
"""
_INGEST = """
SELECT b.bucket, coalesce(r.n, 0) AS readings, coalesce(e.n, 0) AS events,
       coalesce(d.n, 0) AS dead_letters
FROM (SELECT time_bucket(%(bucket)s, t) AS bucket
      FROM generate_series(time_bucket(%(bucket)s::interval, %(start)s::timestamptz),
                           %(end)s::timestamptz, %(bucket)s::interval) t) b
LEFT JOIN (SELECT time_bucket(%(bucket)s, received_at) AS bucket, count(*) AS n
           FROM meter_readings WHERE received_at >= %(start)s AND received_at < %(end)s
           GROUP BY 1) r USING (bucket)
LEFT JOIN (SELECT time_bucket(%(bucket)s, received_at) AS bucket, count(*) AS n
           FROM device_events WHERE received_at >= %(start)s AND received_at < %(end)s
           GROUP BY 1) e USING (bucket)
LEFT JOIN (SELECT time_bucket(%(bucket)s, received_at) AS bucket, count(*) AS n
           FROM dead_letters WHERE received_at >= %(start)s AND received_at < %(end)s
           GROUP BY 1) d USING (bucket)
ORDER BY 1
"""


@dataclass
class ReportData:
    start: datetime
    end: datetime
    now: datetime
    zone: ZoneInfo
    arrivals: list[dict[str, Any]]
    on_time_by_hour: list[dict[str, Any]]
    crews: list[dict[str, Any]]
    ratings: dict[str, Any]
    installs: dict[str, Any]
    ingest: list[dict[str, Any]]


def collect(
    conn: psycopg.Connection, start: datetime, end: datetime, zone: ZoneInfo | None = None
) -> ReportData:
    """The rows of the report for [start, end); *zone*: the utility's (settings) if None."""
    span_h = max((end - start).total_seconds() / 3600, 1)
    bucket = "1 hour" if span_h <= 72 else "1 day"
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    now = cur.execute("SELECT now() AS now").fetchone()["now"]
    params = {"start": start, "end": end, "bucket": bucket, "now": now}
    return ReportData(
        start,
        end,
        now,
        zone or get_settings().local_zone,
        arrivals=cur.execute(_ARRIVALS, params).fetchall(),
        on_time_by_hour=cur.execute(_ON_TIME_BY_HOUR, params).fetchall(),
        crews=cur.execute(_CREW_UTILISATION, params).fetchall(),
        ratings=cur.execute(_RATINGS, params).fetchone() or {},
        installs=cur.execute(_INSTALL_COMPLIANCE, params).fetchone() or {},
        ingest=cur.execute(_INGEST, params).fetchall(),
    )


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _share(num: int, den: int) -> str:
    return f"{100 * num / den:.1f} %" if den else "–"


def summary(data: ReportData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for area in ("urban", "rural"):
        rows = [r for r in data.arrivals if r["area"] == area]
        out[f"faults_{area}"] = len(rows)
        out[f"due_{area}"] = sum(1 for r in rows if r["due"])
        out[f"on_time_{area}"] = sum(1 for r in rows if r["on_time"])
    out["faults"] = len(data.arrivals)
    out["due"] = sum(1 for r in data.arrivals if r["due"])
    out["on_time"] = sum(1 for r in data.arrivals if r["on_time"])
    out["readings"] = sum(r["readings"] for r in data.ingest)
    out["events"] = sum(r["events"] for r in data.ingest)
    out["dead_letters"] = sum(r["dead_letters"] for r in data.ingest)
    out["ratings"] = int(data.ratings.get("n") or 0)
    return out


def plots(data: ReportData) -> dict[str, str]:
    # every time axis in the utility's zone, as the period above it says
    matplotlib.rcParams["timezone"] = str(data.zone)
    figs: dict[str, str] = {}
    colours = {"urban": "#1f77b4", "rural": "#2ca02c"}

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, area in enumerate(("urban", "rural")):
        ys = [
            float(r["arrival_min"])
            for r in data.arrivals
            if r["area"] == area and r["arrival_min"] is not None
        ]
        ax.scatter(
            [i + 0.08 * ((k % 7) - 3) for k in range(len(ys))],
            ys,
            s=14,
            color=colours[area],
            label=area,
        )
        ax.hlines(
            {"urban": 45, "rural": 90}[area], i - 0.4, i + 0.4, colors="red", linestyles="dashed"
        )
    ax.set_xticks([0, 1], ["urban (45 min)", "rural (90 min)"])
    ax.set_ylabel("minutes from report to arrival")
    ax.set_title("Arrivals against deadline")
    figs["Arrivals against deadline per area"] = _png(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    arr = [float(r["arrival_min"]) for r in data.arrivals if r["arrival_min"] is not None]
    res = [float(r["restoration_min"]) for r in data.arrivals if r["restoration_min"] is not None]
    for ax, values, title, colour in (
        (a1, arr, "arrival time (min)", "#1f77b4"),
        (a2, res, "restoration time (min)", "#9467bd"),
    ):
        if values:
            ax.hist(values, bins=20, color=colour)
        else:  # no bar at 0 for an empty period: say there is nothing yet
            ax.text(0.5, 0.5, "none yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
        ax.set_title(title)
    figs["Distribution of arrival and restoration times"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for area in ("urban", "rural"):
        # an hour with nothing due has no share: no point, rather than one at 0 %
        rows = [r for r in data.on_time_by_hour if r["area"] == area and r["due"]]
        ax.plot(
            [r["hour"] for r in rows],
            [100 * r["on_time"] / r["due"] for r in rows],
            marker="o",
            color=colours[area],
            label=area,
        )
    hours = [r["hour"] for r in data.on_time_by_hour]
    ax.set_xlim(min([data.start, *hours]), max([data.end, *hours]))
    ax.set_ylim(0, 105)
    ax.set_ylabel("% on time")
    ax.legend()
    fig.autofmt_xdate()
    figs["On-time share per hour"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    elapsed = min(data.end, data.now) - data.start
    span_h = max(elapsed.total_seconds() / 3600, 1e-9)
    ax.bar(
        [r["crew_id"][-2:] for r in data.crews],
        [100 * float(r["hours_on_site"]) / span_h for r in data.crews],
        color="#ff7f0e",
    )
    ax.set_ylabel("% of the period so far on site")
    ax.set_xlabel("crew")
    figs["Crew utilisation"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.0))
    ax.bar(
        list(RATING_DIMENSIONS),
        [float(data.ratings.get(d) or 0) for d in RATING_DIMENSIONS],
        color="#17becf",
    )
    ax.set_ylim(0, 5)
    ax.set_title(f"Ratings per dimension (n = {data.ratings.get('n') or 0})")
    figs["Ratings per dimension"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    xs = [r["bucket"] for r in data.ingest]
    ax.plot(xs, [r["readings"] for r in data.ingest], marker="o", label="readings")
    ax.plot(xs, [r["events"] for r in data.ingest], marker="o", label="events")
    ax.plot(
        xs, [r["dead_letters"] for r in data.ingest], marker="o", label="dead letters", color="red"
    )
    ax.set_xlim(min([data.start, *xs]), max([data.end, *xs]))
    ax.set_yscale("symlog")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.autofmt_xdate()
    figs["Gateway ingest and dead letters"] = _png(fig)
    return figs


def render_html(data: ReportData) -> str:
    s = summary(data)
    start, end = data.start.astimezone(data.zone), data.end.astimezone(data.zone)
    inst = data.installs
    rows = [
        (
            "Faults reached within deadline, urban",
            _share(s["on_time_urban"], s["due_urban"]),
            f"{s['on_time_urban']} of {s['due_urban']} due ({s['faults_urban']} reported)",
        ),
        (
            "Faults reached within deadline, rural",
            _share(s["on_time_rural"], s["due_rural"]),
            f"{s['on_time_rural']} of {s['due_rural']} due ({s['faults_rural']} reported)",
        ),
        (
            "Installations completed by their due time",
            _share(int(inst.get("on_time") or 0), int(inst.get("done") or 0)),
            f"{inst.get('on_time') or 0} of {inst.get('done') or 0} done; "
            f"{inst.get('overdue_open') or 0} open past due",
        ),
        ("Readings / events stored", f"{s['readings']:,} / {s['events']:,}", ""),
        ("Dead letters", f"{s['dead_letters']:,}", "malformed or rejected device messages"),
        ("Ratings received", f"{s['ratings']}", ""),
    ]
    table = "\n".join(
        f"<tr><td>{html.escape(a)}</td><td><b>{html.escape(b)}</b></td>"
        f"<td>{html.escape(c)}</td></tr>"
        for a, b, c in rows
    )
    images = "\n".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{png}">'
        for title, png in plots(data).items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GridCrew service-quality report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td{{border-bottom:1px solid #ddd;padding:4px 12px}}
img{{max-width:100%}}</style></head><body>
<h1>Service-quality report</h1>
<p>Period {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({html.escape(str(data.zone))}),
as of {data.now.astimezone(data.zone):%Y-%m-%d %H:%M}. Computed from the
raw rows of the database.</p>
<table>{table}</table>
{images}
</body></html>
"""


def write(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    out: Path,
    zone: ZoneInfo | None = None,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    page = render_html(collect(conn, start, end, zone))
    page = page.replace("</body>", report_reliability.section(conn, start, end) + "</body>", 1)
    path.write_text(page, encoding="utf-8")
    return path
