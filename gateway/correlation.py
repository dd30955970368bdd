"""Outage correlation over decoded alarms and the network topology (pure).

Many dark meters behind one transformer are one outage; whole dark sections
are one outage at the top-most dark section; fault indicators that saw fault
current narrow a feeder's outage to the deepest tripped indicator's section
(the one between the last indicator that tripped and the first that stayed
quiet). :func:`reconcile` turns the outages of now and the incidents already
open into a plan: open, upgrade, merge, close. No I/O here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from gridcrew.grid import ServiceArea, area_containing
from gridcrew.topology import deepest, downstream

TRANSFORMER_DARK_FRACTION = 0.3
"""A transformer is out when at least this share of its meters (and two) are dark."""
SKILL_BY_LINE_TYPE = {"overhead": "overhead_line", "cable": "cable"}
_SCOPE_RANK = {"section": 0, "transformer": 1, "meter": 2}


@dataclass(frozen=True)
class Topology:
    section_parent: Mapping[str, str | None]
    section_feeder: Mapping[str, str]
    section_line_type: Mapping[str, str]
    section_midpoint: Mapping[str, tuple[float, float]]
    transformer_section: Mapping[str, str]
    transformer_location: Mapping[str, tuple[float, float]]
    meter_transformer: Mapping[str, str]
    meter_location: Mapping[str, tuple[float, float]]
    critical_meters: frozenset[str]
    indicator_section: Mapping[str, str]

    @cached_property
    def meters_of_transformer(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for tx in self.meter_transformer.values():
            counts[tx] += 1
        return dict(counts)

    @cached_property
    def transformers_of_section(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for tx, sec in sorted(self.transformer_section.items()):
            out[sec].append(tx)
        return dict(out)


@dataclass(frozen=True)
class Outage:
    """One outage as the alarms show it now (the desired state of one incident)."""

    key: str
    scope: str  # section, transformer, meter
    feeder_id: str
    section_id: str
    transformer_id: str | None
    covers: frozenset[str]  # sections whose alarms this outage explains
    meters: frozenset[str]
    critical_customers: int
    first_alarm_at: datetime
    location: tuple[float, float]
    required_skill: str
    indicators: tuple[str, ...] = ()

    @property
    def customers_affected(self) -> int:
        return len(self.meters)

    @property
    def priority(self) -> int:
        return priority(self.customers_affected, self.critical_customers)


def priority(customers: int, critical: int) -> int:
    """1 (most urgent) .. 5: any critical customer (hospital) or a thousand customers is 1."""
    if critical or customers >= 1000:
        return 1
    if customers >= 200:
        return 2
    if customers >= 50:
        return 3
    if customers >= 5:
        return 4
    return 5


def outages(
    dark: Mapping[str, datetime],
    tripped: Collection[str],
    topo: Topology,
    *,
    transformer_fraction: float = TRANSFORMER_DARK_FRACTION,
) -> list[Outage]:
    """The outages explaining *dark* meters (meter -> time it went dark), given the
    fault indicators currently *tripped*."""
    dark = {m: t for m, t in dark.items() if m in topo.meter_transformer}
    by_tx: dict[str, list[str]] = defaultdict(list)
    for m in sorted(dark):
        by_tx[topo.meter_transformer[m]].append(m)
    tx_out = {
        tx
        for tx, ms in by_tx.items()
        if len(ms) >= max(2, math.ceil(transformer_fraction * topo.meters_of_transformer[tx]))
    }
    by_feeder: dict[str, list[str]] = defaultdict(list)
    for tx in sorted(by_tx):
        by_feeder[topo.section_feeder[topo.transformer_section[tx]]].append(tx)
    tripped_by_feeder: dict[str, dict[str, str]] = defaultdict(dict)  # section -> indicator
    for ind in sorted(tripped):
        sec = topo.indicator_section.get(ind)
        if sec is not None:
            tripped_by_feeder[topo.section_feeder[sec]][sec] = ind

    result: list[Outage] = []
    explained: set[str] = set()
    for feeder, txs in sorted(by_feeder.items()):
        feeder_sections = {s for s, f in topo.section_feeder.items() if f == feeder}
        fault = deepest(topo.section_parent, tripped_by_feeder.get(feeder, {}))
        if fault is not None:
            meters = [m for tx in txs for m in by_tx[tx]]
            indicators = tuple(sorted(tripped_by_feeder[feeder].values()))
            result.append(
                _section(fault, frozenset(feeder_sections), meters, dark, topo, indicators)
            )
            explained.update(txs)
            continue
        dark_sections = {
            s
            for s in feeder_sections
            if topo.transformers_of_section.get(s)
            and all(tx in tx_out for tx in topo.transformers_of_section[s])
        }
        for top in sorted(s for s in dark_sections if topo.section_parent[s] not in dark_sections):
            covers = frozenset(downstream(topo.section_parent, top))
            in_cover = [tx for tx in txs if topo.transformer_section[tx] in covers]
            meters = [m for tx in in_cover for m in by_tx[tx]]
            result.append(_section(top, covers, meters, dark, topo, ()))
            explained.update(in_cover)
    for tx, ms in sorted(by_tx.items()):
        if tx in explained:
            continue
        sec = topo.transformer_section[tx]
        whole = tx in tx_out
        result.append(
            Outage(
                key=f"transformer:{tx}",
                scope="transformer" if whole else "meter",
                feeder_id=topo.section_feeder[sec],
                section_id=sec,
                transformer_id=tx,
                covers=frozenset(),
                meters=frozenset(ms),
                critical_customers=sum(1 for m in ms if m in topo.critical_meters),
                first_alarm_at=min(dark[m] for m in ms),
                location=topo.meter_location[ms[0]]
                if len(ms) == 1
                else topo.transformer_location[tx],
                required_skill="transformer" if whole else "meter",
            )
        )
    return result


def _section(
    section: str,
    covers: frozenset[str],
    meters: list[str],
    dark: Mapping[str, datetime],
    topo: Topology,
    indicators: tuple[str, ...],
) -> Outage:
    return Outage(
        key=f"section:{section}",
        scope="section",
        feeder_id=topo.section_feeder[section],
        section_id=section,
        transformer_id=None,
        covers=covers,
        meters=frozenset(meters),
        critical_customers=sum(1 for m in meters if m in topo.critical_meters),
        first_alarm_at=min(dark[m] for m in meters),
        location=topo.section_midpoint[section],
        required_skill=SKILL_BY_LINE_TYPE[topo.section_line_type[section]],
        indicators=indicators,
    )


@dataclass(frozen=True)
class OpenIncident:
    id: int
    key: str
    scope: str
    section_id: str | None
    transformer_id: str | None
    covers: frozenset[str]
    meters_affected: int
    critical_customers: int


@dataclass
class Plan:
    opened: list[Outage] = field(default_factory=list)
    changed: list[tuple[int, Outage, str]] = field(default_factory=list)  # id, state, change
    merged: list[tuple[int, int]] = field(default_factory=list)  # (incident, into)
    closed: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.opened or self.changed or self.merged or self.closed)


def reconcile(current: list[Outage], incidents: list[OpenIncident]) -> Plan:
    """What to do so that the open incidents match the outages of now.

    An outage that covers open incidents (same key, or their section inside its
    cover) keeps one of them (same key first, then the oldest) and merges the
    rest into it: a wider outage upgrades the incident. An outage inside a wider
    open incident changes nothing. Incidents no outage claims are closed.
    """
    plan = Plan()
    claimed: set[int] = set()
    for o in sorted(current, key=lambda o: (_SCOPE_RANK[o.scope], o.key)):
        covered = [
            i
            for i in incidents
            if i.id not in claimed and (i.key == o.key or i.section_id in o.covers)
        ]
        if covered:
            keep = next((i for i in covered if i.key == o.key), min(covered, key=lambda i: i.id))
            claimed.update(i.id for i in covered)
            change = _change(keep, o)
            if change:
                plan.changed.append((keep.id, o, change))
            plan.merged.extend((i.id, keep.id) for i in covered if i.id != keep.id)
            continue
        wider = [i for i in incidents if i.scope == "section" and o.section_id in i.covers]
        if wider:
            claimed.add(min(wider, key=lambda i: i.id).id)
        else:
            plan.opened.append(o)
    plan.closed = sorted(i.id for i in incidents if i.id not in claimed)
    return plan


def _change(incident: OpenIncident, o: Outage) -> str | None:
    if (incident.key, incident.scope, incident.section_id, incident.transformer_id) != (
        o.key,
        o.scope,
        o.section_id,
        o.transformer_id,
    ):
        return "relocated"
    if (incident.meters_affected, incident.critical_customers) != (
        len(o.meters),
        o.critical_customers,
    ):
        return "updated"
    return None


@dataclass(frozen=True)
class WorkOrderSpec:
    priority: int
    required_skills: list[str]
    lon: float
    lat: float
    service_area_id: str
    arrival_deadline_min: int
    description: str


def work_order_spec(o: Outage, areas: list[ServiceArea]) -> WorkOrderSpec:
    """The fault-repair work order an outage asks for (areas: highest priority first)."""
    lon, lat = o.location
    area = area_containing(areas, lon, lat)
    where = {
        "section": f"feeder section {o.section_id}",
        "transformer": f"transformer {o.transformer_id}",
        "meter": f"meter(s) behind transformer {o.transformer_id}",
    }[o.scope]
    critical = f", {o.critical_customers} critical" if o.critical_customers else ""
    located = f"; fault indicators tripped: {', '.join(o.indicators)}" if o.indicators else ""
    return WorkOrderSpec(
        priority=o.priority,
        required_skills=[o.required_skill],
        lon=lon,
        lat=lat,
        service_area_id=area.id,
        arrival_deadline_min=area.arrival_deadline_min,
        description=(
            f"Outage at {where}: {o.customers_affected} customers off supply{critical}{located}"
        ),
    )
