"""The grid's vocabulary that production code speaks: service areas and their arrival
deadlines, crew skills, and the small geometry of points on the ground.

The network's topology walks are in ``gridcrew.topology``, the customers behind a section in
``gridcrew.outages``; the synthetic demo territory is ``simulators.demo.territory``. Pure,
but for ``load_service_areas``, the one reader of the ``service_areas`` table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import psycopg
import shapely
from shapely.geometry import Point, Polygon

SKILLS = ("overhead_line", "cable", "transformer", "meter")
"""What a crew can be qualified for, and what a job can require."""
M_PER_DEG_LAT = 111_320.0


def m_per_deg_lon(lat: float) -> float:
    return M_PER_DEG_LAT * math.cos(math.radians(lat))


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lon + east_m / m_per_deg_lon(lat), lat + north_m / M_PER_DEG_LAT


@dataclass(frozen=True)
class ServiceArea:
    id: str
    name: str
    kind: str
    arrival_deadline_min: int
    polygon: Polygon


def area_containing(areas: list[ServiceArea], lon: float, lat: float) -> ServiceArea:
    """The service area a point falls in; the nearest one when it is outside all."""
    pt = Point(lon, lat)
    for area in areas:
        if area.polygon.covers(pt):
            return area
    return min(areas, key=lambda a: a.polygon.distance(pt))


def load_service_areas(conn: psycopg.Connection) -> list[ServiceArea]:
    """The service areas, the one that wins where polygons overlap first (the order
    ``area_containing`` expects)."""
    rows = conn.execute(
        "SELECT id, name, kind, arrival_deadline_min, polygon_wkt FROM service_areas"
        " ORDER BY priority_order DESC, id"
    ).fetchall()
    return [
        ServiceArea(
            r["id"],
            r["name"],
            r["kind"],
            r["arrival_deadline_min"],
            shapely.from_wkt(r["polygon_wkt"]),
        )
        for r in rows
    ]
