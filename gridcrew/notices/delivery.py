"""The rules of delivering a notification: what an answer means, when to try again, the
webhook's signature.

Pure: never reads the database, the network or the clock (times and randomness are passed in).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["accepted", "retry", "final"]


@dataclass(frozen=True)
class Answer:
    """What one attempt got back from the channel."""

    outcome: Outcome
    status_code: int | None
    answer: str


def http_outcome(status_code: int) -> Outcome:
    """2xx accepted; 408, 429 and 5xx worth another try; any other 4xx (or 3xx) is final."""
    if 200 <= status_code < 300:
        return "accepted"
    if status_code in (408, 429) or status_code >= 500:
        return "retry"
    return "final"


def smtp_outcome(code: int) -> Outcome:
    """SMTP reply codes: 2xx accepted, 4xx transient, 5xx permanent."""
    if 200 <= code < 300:
        return "accepted"
    return "retry" if 400 <= code < 500 else "final"


def retry_delay(attempt: int, *, base_s: float, max_s: float, jitter: float) -> timedelta:
    """Exponential back-off with jitter after the *attempt*-th failed try (1, 2, ...):
    ``base · 2^(attempt-1)`` capped at *max_s*, then scaled into its upper half by
    *jitter* ∈ [0, 1) so that workers retrying together spread out."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return timedelta(seconds=ceiling * (0.5 + jitter / 2))


@dataclass(frozen=True)
class NextState:
    """What the outbox row becomes after an attempt."""

    status: Literal["queued", "sent", "dead"]
    next_attempt_at: datetime | None
    dead_reason: str | None


def after_attempt(
    answer: Answer,
    attempt: int,
    now: datetime,
    *,
    max_attempts: int,
    base_s: float,
    max_s: float,
    jitter: float,
) -> NextState:
    """The row's next state: sent, retried later, or dead with the reason a person can read."""
    if answer.outcome == "accepted":
        return NextState("sent", None, None)
    code = f"{answer.status_code} " if answer.status_code is not None else ""
    if answer.outcome == "final":
        return NextState("dead", None, f"refused: {code}{answer.answer}"[:500])
    if attempt >= max_attempts:
        return NextState(
            "dead", None, f"gave up after {attempt} attempts; last: {code}{answer.answer}"[:500]
        )
    delay = retry_delay(attempt, base_s=base_s, max_s=max_s, jitter=jitter)
    return NextState("queued", now + delay, None)


SIGNATURE_HEADER = "X-GridCrew-Signature"
TIMESTAMP_HEADER = "X-GridCrew-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``: the receiver recomputes
    it with the shared secret, and the timestamp lets it refuse old replays."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def idempotency_key(notification_id: int) -> str:
    """The same key on every attempt of one notification: a receiver drops a repeat by it."""
    return f"gridcrew-notification-{notification_id}"
