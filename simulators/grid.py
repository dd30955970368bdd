"""Who is fed through whom: the territory's section tree, faults on it, and their reach (pure).

A fault on section S de-energises every meter on S and downstream of it; a fault indicator
``FCI-<section>`` sits at the start of its section, so it sees fault current iff the fault
is on its section or downstream of it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from gridcrew import topology
from simulators.demo.territory import Device, Territory, build


@lru_cache(maxsize=4)
def territory(seed: int = 1) -> Territory:
    """The demo territory of *seed* (the database is seeded with 1 by default)."""
    return build(seed)


@dataclass(frozen=True)
class Fault:
    """A fault on one section from ``start`` to ``clear`` (seconds after the run's start).

    A *silent* fault (high-impedance, or the meters' radios lost) trips no indicator and
    sends no last gasps: only customers' calls reveal it.
    """

    section_id: str
    start: float
    clear: float
    silent: bool = False

    def active(self, t: float) -> bool:
        return self.start <= t < self.clear


@dataclass
class Grid:
    """The parts of a territory the simulators need, indexed for quick questions."""

    territory: Territory
    parents: dict[str, str | None] = field(init=False)
    ancestors: dict[str, frozenset[str]] = field(init=False)
    meters_by_section: dict[str, list[Device]] = field(init=False)

    def __post_init__(self) -> None:
        self.parents = {s.id: s.parent_id for s in self.territory.sections}
        self.ancestors = {
            s: frozenset(topology.path_to_root(self.parents, s)) for s in self.parents
        }
        self.meters_by_section = {s: [] for s in self.parents}
        for m in self.territory.meters:
            assert m.section_id is not None
            self.meters_by_section[m.section_id].append(m)

    def dark_sections(self, fault_section: str) -> list[str]:
        """The section and everything fed through it."""
        return topology.downstream(self.parents, fault_section)

    def meters_losing_power(self, fault_section: str) -> list[Device]:
        return [m for s in self.dark_sections(fault_section) for m in self.meters_by_section[s]]

    def indicators_tripped(self, fault_section: str) -> list[str]:
        """Indicators between the substation and the fault: the fault's section and its parents."""
        return [f"FCI-{s}" for s in topology.path_to_root(self.parents, fault_section)]

    def is_fed_through(self, section: str, fault_section: str) -> bool:
        return fault_section in self.ancestors[section]


def dark_at(grid: Grid, faults: list[Fault], section: str, t: float) -> bool:
    """Whether *section* is without supply at *t* because of one of *faults*."""
    return any(f.active(t) and grid.is_fed_through(section, f.section_id) for f in faults)


class FaultPlan:
    """Faults known so far, extended lazily from an endless (or finite) sorted iterator."""

    def __init__(self, faults: Iterator[Fault]) -> None:
        self._source = faults
        self._next: Fault | None = next(self._source, None)
        self.known: list[Fault] = []

    def until(self, t: float) -> list[Fault]:
        """Every fault starting at or before *t* (in start order)."""
        while self._next is not None and self._next.start <= t:
            self.known.append(self._next)
            self._next = next(self._source, None)
        return self.known

    def active(self, t: float) -> list[Fault]:
        return [f for f in self.until(t) if f.active(t)]

    def forget_before(self, t: float) -> None:
        """Drop faults cleared before *t* (keeps endless runs' memory flat)."""
        self.known = [f for f in self.known if f.clear >= t]
