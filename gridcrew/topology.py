"""Walks over the feeder-section tree (pure).

A section's parent is the section feeding it, towards the substation. Used
by the gateway (where is the fault?), the simulators (who loses power?) and
planned outages (who must be told?).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def children_of(parents: Mapping[str, str | None]) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {s: [] for s in parents}
    for sec, parent in parents.items():
        if parent is not None:
            kids.setdefault(parent, []).append(sec)
    for v in kids.values():
        v.sort()
    return kids


def downstream(parents: Mapping[str, str | None], section: str) -> list[str]:
    """The section and every section fed through it, in breadth-first order."""
    kids = children_of(parents)
    out, queue = [], [section]
    while queue:
        cur = queue.pop(0)
        out.append(cur)
        queue.extend(kids.get(cur, []))
    return out


def path_to_root(parents: Mapping[str, str | None], section: str) -> list[str]:
    """The section and its ancestors up to the feeder head, nearest first."""
    out = [section]
    while (parent := parents.get(out[-1])) is not None:
        out.append(parent)
    return out


def is_downstream(parents: Mapping[str, str | None], section: str, of: str) -> bool:
    return of in path_to_root(parents, section)


def deepest(parents: Mapping[str, str | None], sections: Iterable[str]) -> str | None:
    """The section farthest from the feeder head among *sections* (ties: by name)."""
    best = sorted(sections, key=lambda s: (-len(path_to_root(parents, s)), s))
    return best[0] if best else None
