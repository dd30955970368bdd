"""The Solomon reader and the VRPTW benchmark model."""

from __future__ import annotations

from pathlib import Path

from bench import vrptw

SOLOMON = Path("/work/shared/benchmarks/solomon")


def test_reader_round_trips_c101(tmp_path: Path):
    inst = vrptw.read(SOLOMON / "C101.txt")
    assert (inst.name, inst.vehicles, inst.capacity, len(inst.coords)) == ("C101", 25, 200, 101)
    assert inst.coords[1] == (45.0, 68.0)
    assert (inst.demand[1], inst.windows[1], inst.service[1]) == (10, (912, 967), 90)
    assert inst.windows[0] == (0, 1236)
    copy = tmp_path / "C101.txt"
    copy.write_text(vrptw.to_solomon_text(inst))
    assert vrptw.read(copy) == inst


def test_c101_solves_feasibly_in_a_second():
    result = vrptw.bench(SOLOMON / "C101.txt", 1.0)
    assert result["feasible"]
    assert result["vehicles"] <= 25
    assert result["distance"] >= 828.94 - 0.01
