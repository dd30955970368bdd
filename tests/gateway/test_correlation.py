"""Pure outage correlation over the demo territory's topology: no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from gateway.correlation import (
    OpenIncident,
    Topology,
    outages,
    priority,
    reconcile,
    work_order_spec,
)
from simulators.demo.territory import Territory, build

T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@cache
def territory() -> Territory:
    return build(1)


@cache
def topo() -> Topology:
    t = territory()
    critical = {c.id for c in t.customers if c.category == "critical"}
    return Topology(
        section_parent={s.id: s.parent_id for s in t.sections},
        section_feeder={s.id: s.feeder_id for s in t.sections},
        section_line_type={s.id: s.line_type for s in t.sections},
        section_midpoint={s.id: s.midpoint for s in t.sections},
        transformer_section={x.id: x.section_id for x in t.transformers},
        transformer_location={x.id: (x.lon, x.lat) for x in t.transformers},
        meter_transformer={m.id: m.transformer_id for m in t.meters},
        meter_location={m.id: (m.lon, m.lat) for m in t.meters},
        critical_meters=frozenset(m.id for m in t.meters if m.customer_id in critical),
        indicator_section={d.id: d.section_id for d in t.indicators},
    )


def meters_of(*, transformer: str | None = None, feeder: str | None = None) -> list[str]:
    t = territory()
    tx_section = {x.id: x.section_id for x in t.transformers}
    return [
        m.id
        for m in t.meters
        if (transformer is None or m.transformer_id == transformer)
        and (feeder is None or tx_section[m.transformer_id].startswith(feeder + "-"))
    ]


def one_transformer_per_section(n: int) -> list[str]:
    seen: dict[str, str] = {}
    for x in territory().transformers:
        seen.setdefault(x.section_id, x.id)
    return list(seen.values())[:n]


def dark(meters: list[str], at: datetime = T) -> dict[str, datetime]:
    return {m: at + timedelta(milliseconds=i) for i, m in enumerate(meters)}


def test_a_burst_behind_twenty_transformers_is_twenty_outages():
    txs = one_transformer_per_section(20)
    found = outages(dark([m for tx in txs for m in meters_of(transformer=tx)]), set(), topo())
    assert sorted(o.transformer_id for o in found) == sorted(txs)
    assert {o.scope for o in found} == {"transformer"}
    assert {o.required_skill for o in found} == {"transformer"}
    plan = reconcile(found, [])
    assert len(plan.opened) == 20 and not plan.closed


def test_a_single_dark_meter_is_a_meter_outage_at_the_meter():
    meter = meters_of(transformer="TX-010")[0]
    (o,) = outages(dark([meter]), set(), topo())
    assert (o.scope, o.required_skill, o.customers_affected) == ("meter", "meter", 1)
    assert o.location == topo().meter_location[meter]


def test_fault_indicators_narrow_a_dark_feeder_to_the_deepest_tripped_section():
    tripped = {"FCI-F3-S1", "FCI-F3-S2", "FCI-F3-S3"}
    (o,) = outages(dark(meters_of(feeder="F3")), tripped, topo())
    assert (o.scope, o.section_id, o.required_skill) == ("section", "F3-S3", "overhead_line")
    assert o.location == topo().section_midpoint["F3-S3"]
    assert o.indicators == tuple(sorted(tripped))
    assert o.priority <= 2


def test_a_whole_dark_section_is_one_section_outage():
    txs = [x.id for x in territory().transformers if x.section_id == "F1-S6"]
    (o,) = outages(dark([m for tx in txs for m in meters_of(transformer=tx)]), set(), topo())
    assert (o.scope, o.section_id, o.required_skill) == ("section", "F1-S6", "cable")


def incident(id_: int, key: str, scope: str, section: str, tx: str | None, **kw) -> OpenIncident:
    return OpenIncident(
        id_, key, scope, section, tx, frozenset(kw.get("covers", ())), kw.get("meters", 10), 0
    )


def test_a_wider_outage_upgrades_the_oldest_incident_and_merges_the_rest():
    f3_txs = [x for x in territory().transformers if x.section_id.startswith("F3-")]
    open_ = [
        incident(
            7, f"transformer:{f3_txs[0].id}", "transformer", f3_txs[0].section_id, f3_txs[0].id
        ),
        incident(
            9, f"transformer:{f3_txs[-1].id}", "transformer", f3_txs[-1].section_id, f3_txs[-1].id
        ),
    ]
    current = outages(dark(meters_of(feeder="F3")), {"FCI-F3-S1", "FCI-F3-S2"}, topo())
    plan = reconcile(current, open_)
    assert not plan.opened and not plan.closed
    ((kept, o, change),) = plan.changed
    assert (kept, o.section_id, change) == (7, "F3-S2", "relocated")
    assert plan.merged == [(9, 7)]


def test_alarms_inside_a_wider_open_incident_change_nothing_and_restores_close():
    covers = {"F1-S1", "F1-S2", "F1-S3", "F1-S4", "F1-S5", "F1-S6"}
    wide = incident(3, "section:F1-S1", "section", "F1-S1", None, covers=covers)
    tx = next(x for x in territory().transformers if x.section_id == "F1-S4")
    current = outages(dark(meters_of(transformer=tx.id)), set(), topo())
    assert reconcile(current, [wide]).empty
    assert reconcile([], [wide]).closed == [3]


def test_growing_outage_updates_the_same_incident():
    ms = meters_of(transformer="TX-020")
    first = outages(dark(ms[:1]), set(), topo())
    plan = reconcile(first, [])
    o = plan.opened[0]
    open_ = [incident(1, o.key, o.scope, o.section_id, o.transformer_id, meters=1)]
    plan = reconcile(outages(dark(ms), set(), topo()), open_)
    assert [(i, c) for i, _, c in plan.changed] == [(1, "relocated")]
    assert plan.changed[0][1].scope == "transformer"


def test_work_order_spec_takes_the_area_deadline_by_containment():
    t = territory()
    areas = sorted(t.service_areas, key=lambda a: a.kind != "urban")
    city = outages(dark(meters_of(transformer="TX-001")), set(), topo())[0]
    far_tx = next(x for x in reversed(t.transformers) if x.section_id == "F4-S6")
    rural = outages(dark(meters_of(transformer=far_tx.id)), set(), topo())[0]
    assert t.area_of(*city.location).kind == "urban"
    assert work_order_spec(city, areas).arrival_deadline_min == 45
    assert work_order_spec(rural, areas).service_area_id == "SA-RURAL"
    assert work_order_spec(rural, areas).arrival_deadline_min == 90


def test_priority_grows_with_customers_and_critical_customers():
    assert priority(1, 0) == 5
    assert priority(96, 0) == 3
    assert priority(400, 0) == 2
    assert priority(3, 1) == 1
    assert priority(2000, 0) == 1
