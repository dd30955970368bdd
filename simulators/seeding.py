"""Deterministic random streams: one per part of a simulation, derived from seed + names.

Never seeded from wall time, so the same seed gives the same messages on every run.
"""

from __future__ import annotations

import hashlib
import random


def rng_for(seed: int, *names: str | int) -> random.Random:
    """An independent random stream for one part (e.g. ``rng_for(1, "meter", "MTR-000001")``)."""
    key = "/".join(str(p) for p in (seed, *names)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
