"""Delivery defects on purpose (pure): duplicates, out-of-order delivery, malformed messages.

They exercise the gateway's defences; clock skew lives in the meters' traits. Each
malformed kind breaks one rule the gateway must enforce: JSON syntax, the payload schema,
finite numbers, the future-time limit, the size limit, or the topic's payload kind.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gridcrew.config import get_settings
from simulators.seeding import rng_for
from simulators.timeline import Message

MALFORMED_KINDS = ("bad_json", "schema", "nan", "future", "oversize", "wrong_topic")
FUTURE = timedelta(days=1)


@dataclass(frozen=True)
class Defects:
    duplicates: float = 0.0  # share of messages delivered twice
    out_of_order: float = 0.0  # share held back behind later ones
    malformed: float = 0.0  # share replaced by a malformed variant
    kinds: tuple[str, ...] = MALFORMED_KINDS
    max_delay_s: float = 30.0  # how far a held-back message may slip

    @property
    def any(self) -> bool:
        return bool(self.duplicates or self.out_of_order or self.malformed)


def _readings_of(obj: dict) -> list[dict]:
    if obj.get("kind") == "reading":
        return [obj]
    return list(obj.get("readings", []))


def _shift(value: str) -> str:
    return (datetime.fromisoformat(value) + FUTURE).isoformat().replace("+00:00", "Z")


def malform(msg: Message, kind: str, max_bytes: int) -> Message:
    """*msg* broken in the way *kind* names (a kind that cannot apply falls back to schema)."""
    obj = json.loads(msg.payload)
    if kind == "nan" and not _readings_of(obj):
        kind = "schema"
    if kind == "bad_json":
        return replace(msg, payload=msg.payload[: len(msg.payload) // 2])
    if kind == "schema":
        if "time" in obj:
            obj["time"] = "half past nine"
        else:
            obj["readings" if "readings" in obj else "events"] = []
    elif kind == "nan":
        _readings_of(obj)[0]["values"]["1-0:32.7.0"] = float("nan")
    elif kind == "future":
        for part in [obj, *obj.get("readings", []), *obj.get("events", [])]:
            if "time" in part:
                part["time"] = _shift(part["time"])
    elif kind == "oversize":
        payload = msg.payload + b" " * (max_bytes + 1 - len(msg.payload))
        return replace(msg, payload=payload)
    elif kind == "wrong_topic":
        head, _, tail = msg.topic.rpartition("/")
        return replace(msg, topic=f"{head}/{'events' if tail == 'readings' else 'readings'}")
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; use one of {MALFORMED_KINDS}")
    return replace(msg, payload=json.dumps(obj, separators=(",", ":")).encode())


def apply(messages: Iterator[Message], defects: Defects, seed: int) -> Iterator[Message]:
    """The stream as a flaky network and buggy firmware deliver it (still sorted by time)."""
    if not defects.any:
        yield from messages
        return
    rng: random.Random = rng_for(seed, "defects")
    max_bytes = get_settings().gateway_max_payload_bytes
    seq = itertools.count()
    held: list[tuple[float, int, Message]] = []
    for msg in messages:
        while held and held[0][0] <= msg.at:
            yield heapq.heappop(held)[2]
        if rng.random() < defects.malformed:
            msg = malform(msg, rng.choice(defects.kinds), max_bytes)
        at = msg.at
        if rng.random() < defects.out_of_order:
            at += rng.uniform(0.5, defects.max_delay_s)
        heapq.heappush(held, (at, next(seq), replace(msg, at=at)))
        if rng.random() < defects.duplicates:
            again = at + rng.uniform(0.05, 2.0)
            heapq.heappush(held, (again, next(seq), replace(msg, at=again)))
    while held:
        yield heapq.heappop(held)[2]
