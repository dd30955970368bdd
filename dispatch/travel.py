"""Travel times and distances between points: a provider interface and two providers.

``GreatCircle`` (the default, pure) is the great-circle distance times a detour
factor at the area's road speed (slower in the city). ``Osrm`` asks an OSRM
``/table`` service. ``CachedTravel`` keeps every pair it has seen, so a re-plan
asks the provider only about points that are new. Providers never guess: an
OSRM failure raises with the URL to check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import httpx

from dispatch.model import Point

EARTH_RADIUS_KM = 6371.0088
DETOUR_FACTOR = 1.3
SPEED_KMH = {"urban": 24.0, "rural": 48.0}


@dataclass(frozen=True)
class Matrix:
    """Minutes and kilometres from every source (row) to every destination (column)."""

    minutes: list[list[float]]
    km: list[list[float]]


class TravelProvider(Protocol):
    def table(self, sources: list[Point], destinations: list[Point]) -> Matrix: ...


def great_circle_km(a: Point, b: Point) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class GreatCircle:
    """Road distance = great circle x detour; speed = mean of the two ends' area speeds."""

    detour: float = DETOUR_FACTOR
    urban_kmh: float = SPEED_KMH["urban"]
    rural_kmh: float = SPEED_KMH["rural"]

    def leg(self, a: Point, b: Point) -> tuple[float, float]:
        km = great_circle_km(a, b) * self.detour
        speeds = [self.urban_kmh if p.area_kind == "urban" else self.rural_kmh for p in (a, b)]
        kmh = sum(speeds) / 2
        return km / kmh * 60.0, km

    def table(self, sources: list[Point], destinations: list[Point]) -> Matrix:
        legs = [[self.leg(a, b) for b in destinations] for a in sources]
        return Matrix([[m for m, _ in row] for row in legs], [[k for _, k in row] for row in legs])


@dataclass
class Osrm:
    """An OSRM server's ``/table`` service (driving profile), one request per table."""

    base_url: str
    timeout_s: float = 10.0

    def table(self, sources: list[Point], destinations: list[Point]) -> Matrix:
        points = sources + destinations
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        src = ";".join(str(i) for i in range(len(sources)))
        dst = ";".join(str(len(sources) + i) for i in range(len(destinations)))
        url = f"{self.base_url.rstrip('/')}/table/v1/driving/{coords}"
        params = {"sources": src, "destinations": dst, "annotations": "duration,distance"}
        try:
            r = httpx.get(url, params=params, timeout=self.timeout_s)
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RuntimeError(
                f"OSRM table request to {self.base_url} failed ({exc}); "
                "check GRIDCREW_OSRM_URL or unset it to use great-circle travel times"
            ) from exc
        if body.get("code") != "Ok":
            raise RuntimeError(f"OSRM at {self.base_url} answered {body.get('code')}: {body}")
        minutes = [[(d or 0.0) / 60.0 for d in row] for row in body["durations"]]
        km = [[(d or 0.0) / 1000.0 for d in row] for row in body["distances"]]
        return Matrix(minutes, km)


class CachedTravel:
    """Remembers every leg; asks the provider only for the legs it has not seen.

    A re-plan with one new point costs two small requests: the new point's row
    and its column.
    """

    def __init__(self, provider: TravelProvider, max_legs: int = 4_000_000) -> None:
        self.provider = provider
        self.max_legs = max_legs
        self._legs: dict[tuple[Point, Point], tuple[float, float]] = {}

    def table(self, sources: list[Point], destinations: list[Point]) -> Matrix:
        src = list(dict.fromkeys(sources))
        dst = list(dict.fromkeys(destinations))
        if len(self._legs) + len(src) * len(dst) > self.max_legs:
            self._legs.clear()
        legs = self._legs
        new_rows = [a for a in src if not any((a, b) in legs for b in dst)]
        if new_rows:
            self._store(new_rows, dst)
        rows = [a for a in src if any((a, b) not in legs for b in dst)]
        cols = [b for b in dst if any((a, b) not in legs for a in rows)]
        if rows and cols:
            self._store(rows, cols)
        return Matrix(
            [[legs[(a, b)][0] for b in destinations] for a in sources],
            [[legs[(a, b)][1] for b in destinations] for a in sources],
        )

    def _store(self, sources: list[Point], destinations: list[Point]) -> None:
        m = self.provider.table(sources, destinations)
        for i, a in enumerate(sources):
            for j, b in enumerate(destinations):
                self._legs[(a, b)] = (m.minutes[i][j], m.km[i][j])


def provider_for(osrm_url: str | None) -> CachedTravel:
    """The configured provider behind a cache: OSRM when a URL is set, else great circle."""
    return CachedTravel(Osrm(osrm_url) if osrm_url else GreatCircle())
