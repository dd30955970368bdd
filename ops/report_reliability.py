"""The reliability page of ``gridcrew report``: SAIDI / SAIFI per feeder, daily SAIDI
against the major-event threshold, the worst-served feeders and customers.

One self-contained HTML section (its own queries through gridcrew.reliability, its own
plots, strings from the catalogue's ``report.reliability_*`` keys); report.py only
places it in the page. It only reads; it never writes to the database.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import psycopg  # noqa: E402

from gridcrew import reliability  # noqa: E402
from gridcrew.config import get_settings  # noqa: E402
from gridcrew.i18n import DEFAULT_LANGUAGE, t  # noqa: E402

WORST_FEEDERS = 5
WORST_CUSTOMERS = 10


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.4f} %"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _feeder_plot(feeders: dict[str, dict[str, Any]]) -> str:
    names = sorted(feeders)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.bar(names, [feeders[f]["saidi_min"] or 0 for f in names], color="#d62728")
    a1.set_title("SAIDI (min)")
    a2.bar(names, [feeders[f]["saifi"] or 0 for f in names], color="#1f77b4")
    a2.set_title("SAIFI")
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=45)
    return _png(fig)


def _daily_plot(trend: list[dict[str, Any]], t_med: float | None, med_days: list[str]) -> str:
    days = [datetime.fromisoformat(r["bucket"]) for r in trend]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(days, [r["saidi_unplanned_min"] or 0 for r in trend], color="#9467bd")
    if t_med is not None:
        ax.axhline(t_med, color="red", linestyle="dashed")
    marked = [(d, r) for d, r in zip(days, trend, strict=True) if r["bucket"] in med_days]
    ax.scatter([d for d, _ in marked], [r["saidi_unplanned_min"] for _, r in marked], color="red")
    ax.set_ylabel("SAIDI (min)")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    fig.autofmt_xdate()
    return _png(fig)


def section(
    conn: psycopg.Connection, start: datetime, end: datetime, lang: str = DEFAULT_LANGUAGE
) -> str:
    """The reliability section of the report for [start, end), in *lang*."""
    settings = get_settings()
    common = {"zone": settings.local_timezone, "momentary_min": settings.reliability_momentary_min}
    total = reliability.compute(conn, start, end, by="total", bucket="day", **common)
    feeders = reliability.compute(conn, start, end, by="feeder", bucket="day", **common)
    worst = reliability.worst_customers(
        conn,
        start,
        end,
        momentary_min=settings.reliability_momentary_min,
        limit=WORST_CUSTOMERS,
    )
    med = total["major_event_days"]

    def k(name: str, **params: object) -> str:
        return t(f"report.reliability_{name}", lang, **params)

    if "total" not in total["groups"]:
        return (
            f'<section id="reliability"><h2>{html.escape(k("title"))}</h2>'
            f"<p>{html.escape(k('no_customers'))}</p></section>"
        )
    g = total["groups"]["total"]

    summary = _table(
        [k("index"), k("value")],
        [
            [k("customers_served"), _num(g["customers_served"], 0)],
            ["SAIFI", _num(g["saifi"])],
            ["SAIDI (min)", _num(g["saidi_min"], 1)],
            ["CAIDI (min)", _num(g["caidi_min"], 1)],
            ["CAIFI", _num(g["caifi"])],
            [k("rs1"), _share(g["rs1"])],
            [k("rs3"), _share(g["rs3"])],
            [k("aihc1"), _num(g["aihc1_h"])],
            [k("aitc1"), _num(g["aitc1"])],
            ["MAIFIe", _num(g["maifi_e"])],
            [k("cemi", n=total["cemi_n"]), _share(g["cemi_n"])],
            [k("saidi_without_med"), _num(g["saidi_without_med_min"], 1)],
            [k("t_med"), _num(med["t_med_min"], 1)],
            [k("med_days"), ", ".join(med["days"]) or k("none")],
        ],
    )
    by_feeder = feeders["groups"]
    ranked = sorted(by_feeder.items(), key=lambda kv: -(kv[1]["saidi_min"] or 0))
    worst_feeders = _table(
        [k("feeder"), "SAIDI (min)", "SAIFI", "CAIDI (min)", k("customers_served")],
        [
            [f, _num(v["saidi_min"], 1), _num(v["saifi"]), _num(v["caidi_min"], 1)]
            + [_num(v["customers_served"], 0)]
            for f, v in ranked[:WORST_FEEDERS]
        ],
    )
    worst_customers = _table(
        [k("customer"), k("feeder"), k("interruptions"), k("minutes")],
        [
            [w["customer_id"], w["feeder_id"] or "", str(w["interruptions"]), _num(w["minutes"], 0)]
            for w in worst
        ],
    )
    feeder_png = _feeder_plot(by_feeder) if by_feeder else ""
    daily_png = _daily_plot(total["trend"], med["t_med_min"], med["days"])
    return f"""<section id="reliability">
<h2>{html.escape(k("title"))}</h2>
<p>{html.escape(k("intro", momentary=common["momentary_min"], zone=common["zone"]))}</p>
{summary}
<h3>{html.escape(k("per_feeder"))}</h3>
<img alt="SAIDI / SAIFI" src="data:image/png;base64,{feeder_png}">
<h3>{html.escape(k("daily"))}</h3>
<img alt="SAIDI" src="data:image/png;base64,{daily_png}">
<h3>{html.escape(k("worst_feeders"))}</h3>
{worst_feeders}
<h3>{html.escape(k("worst_customers", n=WORST_CUSTOMERS))}</h3>
{worst_customers}
</section>
"""
