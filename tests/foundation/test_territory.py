"""The demo territory: deterministic, complete, and consistent with its topology."""

from gridcrew import topology
from simulators.demo.territory import build


def test_same_seed_same_territory_other_seed_other():
    a, b, c = build(3), build(3), build(4)
    assert [(m.id, m.lon, m.lat) for m in a.meters] == [(m.id, m.lon, m.lat) for m in b.meters]
    assert [(m.lon, m.lat) for m in a.meters] != [(m.lon, m.lat) for m in c.meters]


def test_counts_match_the_design():
    t = build(1)
    assert len(t.meters) == 10_000
    assert len(t.feeders) == 4 and len(t.substations) == 2
    assert len(t.sections) == 24
    assert len(t.indicators) == 24
    assert len(t.transformers) == 104
    assert len(t.crews) == 12 and len(t.depots) == 2
    assert {a.arrival_deadline_min for a in t.service_areas} == {45, 90}
    assert len(t.applications) >= 5


def test_areas_do_not_overlap_and_both_have_meters():
    t = build(1)
    city, rural = t.service_areas
    assert city.polygon.intersection(rural.polygon).area < 1e-12
    kinds = {m.service_area_id for m in t.meters}
    assert kinds == {"SA-CITY", "SA-RURAL"}


def test_every_meter_hangs_off_a_transformer_on_its_section():
    t = build(1)
    tx = {x.id: x for x in t.transformers}
    for m in t.meters[::97]:
        assert tx[m.transformer_id].section_id == m.section_id
        assert m.concentrator_id == f"DC-{m.transformer_id[3:]}"


def test_topology_walks():
    parents = {s.id: s.parent_id for s in build(1).sections}
    assert topology.downstream(parents, "F1-S2") == ["F1-S2", "F1-S3", "F1-S4", "F1-S5", "F1-S6"]
    assert topology.downstream(parents, "F1-S5") == ["F1-S5"]
    assert topology.path_to_root(parents, "F3-S6") == ["F3-S6", "F3-S4", "F3-S2", "F3-S1"]
    assert topology.is_downstream(parents, "F3-S6", of="F3-S2")
    assert not topology.is_downstream(parents, "F3-S5", of="F3-S4")
    assert topology.deepest(parents, ["F2-S1", "F2-S5", "F2-S3"]) == "F2-S5"
