"""The grid's vocabulary that production code speaks: service areas and their arrival
deadlines, crew skills, and the small geometry of points on the ground.

The network's topology walks are in ``gridcrew.topology``, the customers behind a section in
``gridcrew.outages``; the synthetic demo territory is ``simulators.demo.territory``. Pure:
no I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
