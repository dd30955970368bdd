"""Is a GPS fix on the job site? Pure shapely geometry, no database.

Distances are metres in a local equirectangular projection around the site
(exact enough over a few kilometres). A fix is never silently accepted: a poor
one or one outside the fence comes back with a flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import Point

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    distance_m: float
    flag: str | None  # poor_accuracy, outside_geofence


def _to_metres(geometry, lon0: float, lat0: float):
    """*geometry* (lon/lat degrees) in metres east/north of (lon0, lat0)."""
    k = math.cos(math.radians(lat0))
    scale = np.array([math.radians(1) * EARTH_RADIUS_M * k, math.radians(1) * EARTH_RADIUS_M])
    return shapely.transform(geometry, lambda xy: (xy - np.array([lon0, lat0])) * scale)


def judge(
    *,
    site_lon: float,
    site_lat: float,
    site_polygon_wkt: str | None,
    lon: float,
    lat: float,
    accuracy_m: float,
    radius_m: float,
) -> Verdict:
    """Accept a fix within *radius_m* + accuracy of the site point, or within its
    accuracy of the site polygon when the job has one. A fix whose accuracy is
    coarser than the radius itself cannot tell on-site from next door: flagged."""
    fix = _to_metres(Point(lon, lat), site_lon, site_lat)
    if site_polygon_wkt:
        site = _to_metres(shapely_wkt.loads(site_polygon_wkt), site_lon, site_lat)
        distance = 0.0 if site.covers(fix) else fix.distance(site)
        slack = accuracy_m
    else:
        distance = fix.distance(Point(0.0, 0.0))
        slack = radius_m + accuracy_m
    distance = round(distance, 1)
    if accuracy_m > radius_m:
        return Verdict(False, distance, "poor_accuracy")
    if distance > slack:
        return Verdict(False, distance, "outside_geofence")
    return Verdict(True, distance, None)
