"""The demo territory: a deterministic synthetic distribution network.

Jiaxing (Zhejiang) city as the urban service area (45 min) inside a rural
district (90 min); 2 substations, 4 feeders of 6 sections each as line
geometry, 104 transformers each with a data concentrator, 10,000 meters and
their customers, 24 fault indicators on section boundaries, 2 Modbus field
devices, 12 crews at 2 depots and a handful of open meter-installation
applications. Pure: the same seed gives the same territory; no I/O here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import shapely
from shapely.geometry import LineString, Polygon

from gridcrew.grid import M_PER_DEG_LAT, ServiceArea, area_containing, m_per_deg_lon, offset

CENTER = (120.755, 30.746)  # Jiaxing city centre, lon/lat
# Section tree of every feeder: section -> parent.
SECTION_PARENTS = {1: None, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4}


@dataclass(frozen=True)
class Substation:
    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Feeder:
    id: str
    substation_id: str
    name: str


@dataclass(frozen=True)
class Section:
    id: str
    feeder_id: str
    parent_id: str | None
    line_type: str
    line: LineString

    @property
    def start(self) -> tuple[float, float]:
        return self.line.coords[0]

    @property
    def midpoint(self) -> tuple[float, float]:
        p = self.line.interpolate(0.5, normalized=True)
        return p.x, p.y

    @property
    def length_m(self) -> float:
        lat = self.line.centroid.y
        total = 0.0
        coords = list(self.line.coords)
        for (x1, y1), (x2, y2) in zip(coords, coords[1:], strict=False):
            total += math.hypot((x2 - x1) * m_per_deg_lon(lat), (y2 - y1) * M_PER_DEG_LAT)
        return total


@dataclass(frozen=True)
class Transformer:
    id: str
    section_id: str
    rating_kva: float
    lon: float
    lat: float


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    phone: str
    address: str
    category: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Device:
    id: str
    kind: str  # meter, concentrator, fci, modbus
    lon: float
    lat: float
    feeder_id: str | None
    section_id: str | None
    transformer_id: str | None = None
    concentrator_id: str | None = None
    customer_id: str | None = None
    service_area_id: str | None = None
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Depot:
    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Crew:
    id: str
    name: str
    skills: tuple[str, ...]
    depot_id: str


@dataclass(frozen=True)
class Application:
    number: str
    customer_id: str
    service_class: str
    lon: float
    lat: float
    address: str


@dataclass
class Territory:
    seed: int
    service_areas: list[ServiceArea]
    substations: list[Substation]
    feeders: list[Feeder]
    sections: list[Section]
    transformers: list[Transformer]
    customers: list[Customer]
    devices: list[Device]
    depots: list[Depot]
    crews: list[Crew]
    applications: list[Application]

    def section(self, section_id: str) -> Section:
        return next(s for s in self.sections if s.id == section_id)

    @property
    def meters(self) -> list[Device]:
        return [d for d in self.devices if d.kind == "meter"]

    @property
    def indicators(self) -> list[Device]:
        return [d for d in self.devices if d.kind == "fci"]

    def area_of(self, lon: float, lat: float) -> ServiceArea:
        return area_containing(self.service_areas, lon, lat)


def _ring(
    center: tuple[float, float], rx_m: float, ry_m: float, n: int, rng: random.Random, wobble: float
) -> Polygon:
    pts = []
    for i in range(n):
        a = 2 * math.pi * i / n
        k = 1 + rng.uniform(-wobble, wobble)
        pts.append(offset(center[0], center[1], rx_m * k * math.cos(a), ry_m * k * math.sin(a)))
    return Polygon(pts)


# Feeder plans: (id, substation, bearing of travel in degrees from north, section length m,
# line type per section index).
_FEEDERS = [
    ("F1", "SS-NORTH", 80.0, 1100.0, {i: "cable" for i in range(1, 7)}),
    (
        "F2",
        "SS-NORTH",
        320.0,
        1500.0,
        {1: "cable", 2: "cable", 3: "cable", 4: "cable", 5: "overhead", 6: "overhead"},
    ),
    ("F3", "SS-SOUTH", 200.0, 3800.0, {i: "overhead" for i in range(1, 7)}),
    ("F4", "SS-SOUTH", 130.0, 4200.0, {i: "overhead" for i in range(1, 7)}),
]
_SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Gao",
    "Luo",
]
_GIVEN = [
    "Wei",
    "Fang",
    "Min",
    "Jing",
    "Lei",
    "Qiang",
    "Yan",
    "Jun",
    "Hui",
    "Ping",
    "Gang",
    "Xia",
    "Hong",
    "Tao",
    "Ying",
    "Bin",
    "Na",
    "Hao",
    "Li",
    "Yun",
]
_STREETS = [
    "Zhongshan Rd",
    "Jiefang Rd",
    "Nanhu Ave",
    "Qinyi Rd",
    "Chengnan Rd",
    "Xiuzhou Ave",
    "Changsheng Rd",
    "Ziyang St",
    "Honghe Rd",
    "Huancheng Rd",
]


def build(seed: int = 1, meters: int = 10_000) -> Territory:
    rng = random.Random(seed)
    city = _ring(CENTER, 4500, 3800, 16, rng, 0.08)
    district = _ring(CENTER, 26000, 21000, 20, rng, 0.06).difference(city)
    areas = [
        ServiceArea("SA-CITY", "Jiaxing city (Nanhu)", "urban", 45, city),
        ServiceArea("SA-RURAL", "Xiuzhou rural district", "rural", 90, district),
    ]
    substations = [
        Substation("SS-NORTH", "Beijiao 110 kV", *offset(*CENTER, -600, 2200)),
        Substation("SS-SOUTH", "Nanhu 110 kV", *offset(*CENTER, 400, -2600)),
    ]
    ss = {s.id: s for s in substations}
    feeders: list[Feeder] = []
    sections: list[Section] = []
    for fid, ssid, bearing, length, types in _FEEDERS:
        feeders.append(Feeder(fid, ssid, f"10 kV feeder {fid}"))
        ends: dict[int, tuple[float, float]] = {}
        heads: dict[int, float] = {}
        for idx, parent in SECTION_PARENTS.items():
            if parent is None:
                start = (ss[ssid].lon, ss[ssid].lat)
                head = bearing
            else:
                start = ends[parent]
                # branches (4 from 2, 6 from 4) turn away from the trunk
                head = heads[parent] + (55.0 if idx in (4, 6) else rng.uniform(-15, 15))
            heads[idx] = head
            pts = [start]
            seg = length / 3
            cur = start
            for _ in range(3):
                h = math.radians(head + rng.uniform(-12, 12))
                cur = offset(cur[0], cur[1], seg * math.sin(h), seg * math.cos(h))
                pts.append(cur)
            ends[idx] = cur
            sections.append(
                Section(
                    f"{fid}-S{idx}",
                    fid,
                    f"{fid}-S{parent}" if parent else None,
                    types[idx],
                    LineString(pts),
                )
            )

    transformers: list[Transformer] = []
    n_tx = 104
    per_section = [n_tx // len(sections)] * len(sections)
    for i in range(n_tx - sum(per_section)):
        per_section[i] += 1
    for sec, count in zip(sections, per_section, strict=True):
        for k in range(count):
            p = sec.line.interpolate((k + 0.6) / (count + 0.2), normalized=True)
            side = 60 if k % 2 else -60
            lon, lat = offset(p.x, p.y, side, side / 2)
            rating = 630.0 if sec.line_type == "cable" else 200.0
            transformers.append(
                Transformer(f"TX-{len(transformers) + 1:03d}", sec.id, rating, lon, lat)
            )
    sec_by_id = {s.id: s for s in sections}

    devices: list[Device] = []
    customers: list[Customer] = []
    # Indicators at the start of every section: they see fault current for faults in
    # their section or downstream of it.
    for sec in sections:
        lon, lat = sec.start
        lon, lat = offset(lon, lat, 15, 15)
        devices.append(
            Device(
                f"FCI-{sec.id}",
                "fci",
                lon,
                lat,
                sec.feeder_id,
                sec.id,
                service_area_id=area_containing(areas, lon, lat).id,
            )
        )
    for tx in transformers:
        sec = sec_by_id[tx.section_id]
        devices.append(
            Device(
                f"DC-{tx.id[3:]}",
                "concentrator",
                tx.lon,
                tx.lat,
                sec.feeder_id,
                sec.id,
                transformer_id=tx.id,
                service_area_id=area_containing(areas, tx.lon, tx.lat).id,
            )
        )
    per_tx = [meters // n_tx] * n_tx
    for i in range(meters - sum(per_tx)):
        per_tx[i] += 1
    critical_left = 4
    for tx, count in zip(transformers, per_tx, strict=True):
        sec = sec_by_id[tx.section_id]
        spread = 180 if sec.line_type == "cable" else 350
        area = area_containing(areas, tx.lon, tx.lat)
        for _ in range(count):
            n = len(customers) + 1
            lon, lat = offset(tx.lon, tx.lat, rng.gauss(0, spread / 2), rng.gauss(0, spread / 2))
            r = rng.random()
            if critical_left and r < 0.0015:
                category, critical_left = "critical", critical_left - 1
            elif r < 0.12:
                category = "commercial"
            else:
                category = "residential"
            name = f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"
            if category == "critical":
                name = f"Jiaxing No.{5 - critical_left} Hospital"
            cust = Customer(
                f"CUS-{n:06d}",
                name,
                f"13{rng.randrange(0, 10**9):09d}",
                f"{rng.randrange(1, 400)} {rng.choice(_STREETS)}, Jiaxing",
                category,
                lon,
                lat,
            )
            customers.append(cust)
            devices.append(
                Device(
                    f"MTR-{n:06d}",
                    "meter",
                    lon,
                    lat,
                    sec.feeder_id,
                    sec.id,
                    transformer_id=tx.id,
                    concentrator_id=f"DC-{tx.id[3:]}",
                    customer_id=cust.id,
                    service_area_id=area.id,
                    config={
                        "profile": "commercial" if category != "residential" else "residential"
                    },
                )
            )
    f3 = sec_by_id["F3-S1"]
    devices.append(
        Device(
            "RTU-F3",
            "modbus",
            f3.start[0],
            f3.start[1],
            "F3",
            "F3-S1",
            service_area_id=area_containing(areas, *f3.start).id,
            config={"model": "feeder_rtu", "port": 15020, "unit": 1, "interval_s": 5},
        )
    )
    com = next(c for c in customers if c.category == "commercial")
    com_meter = next(d for d in devices if d.customer_id == com.id)
    devices.append(
        Device(
            "M3P-001",
            "modbus",
            com.lon,
            com.lat,
            com_meter.feeder_id,
            com_meter.section_id,
            transformer_id=com_meter.transformer_id,
            customer_id=com.id,
            service_area_id=com_meter.service_area_id,
            config={"model": "three_phase_meter", "port": 15021, "unit": 1, "interval_s": 5},
        )
    )

    depots = [
        Depot("DEPOT-CITY", "Nanhu service centre", *offset(*CENTER, 300, 200)),
        Depot("DEPOT-RURAL", "Wangdian rural station", *offset(*CENTER, -9000, -11000)),
    ]
    crew_skills = [
        ("overhead_line", "transformer"),
        ("cable", "transformer"),
        ("meter",),
        ("overhead_line", "meter"),
        ("cable", "meter"),
        ("overhead_line", "cable"),
        ("overhead_line", "transformer"),
        ("cable",),
        ("meter", "transformer"),
        ("overhead_line",),
        ("overhead_line", "cable", "transformer"),
        ("meter", "cable"),
    ]
    crews = [
        Crew(
            f"CREW-{i + 1:02d}",
            f"Crew {i + 1:02d}",
            skills,
            "DEPOT-CITY" if i % 2 == 0 else "DEPOT-RURAL",
        )
        for i, skills in enumerate(crew_skills)
    ]
    applications: list[Application] = []
    for i in range(6):
        cust = customers[rng.randrange(len(customers))]
        applications.append(
            Application(
                f"AP-2026-{i + 1:06d}",
                cust.id,
                "hv" if i == 5 else "lv_residential",
                cust.lon,
                cust.lat,
                cust.address,
            )
        )
    return Territory(
        seed,
        areas,
        substations,
        feeders,
        sections,
        transformers,
        customers,
        devices,
        depots,
        crews,
        applications,
    )


def wkt(geom: shapely.Geometry) -> str:
    return shapely.to_wkt(geom, rounding_precision=7)
