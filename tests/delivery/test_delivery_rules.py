"""The pure rules of delivery: what an answer means, the back-off, the reminder's hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridcrew.notices import delivery, messages
from gridcrew.notices.delivery import Answer

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, "accepted"),
        (202, "accepted"),
        (204, "accepted"),
        (301, "final"),
        (400, "final"),
        (401, "final"),
        (404, "final"),
        (408, "retry"),
        (410, "final"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_delivery_http_answers(code, outcome):
    assert delivery.http_outcome(code) == outcome


def test_delivery_backoff_doubles_is_capped_and_jittered_in_its_upper_half():
    for attempt in range(1, 12):
        ceiling = min(3600, 10 * 2 ** (attempt - 1))
        low = delivery.retry_delay(attempt, base_s=10, max_s=3600, jitter=0.0)
        high = delivery.retry_delay(attempt, base_s=10, max_s=3600, jitter=0.999)
        assert low == timedelta(seconds=ceiling / 2)
        assert timedelta(seconds=ceiling / 2) <= high < timedelta(seconds=ceiling)


def test_delivery_next_state_after_each_kind_of_answer():
    rules = {"max_attempts": 3, "base_s": 10, "max_s": 60, "jitter": 0.5}
    sent = delivery.after_attempt(Answer("accepted", 200, "ok"), 1, NOW, **rules)
    assert sent.status == "sent" and sent.dead_reason is None
    retry = delivery.after_attempt(Answer("retry", 503, "busy"), 2, NOW, **rules)
    assert retry.status == "queued" and retry.next_attempt_at == NOW + timedelta(seconds=15)
    final = delivery.after_attempt(Answer("final", 400, "bad number"), 1, NOW, **rules)
    assert final.status == "dead" and final.dead_reason == "refused: 400 bad number"
    spent = delivery.after_attempt(Answer("retry", None, "timeout"), 3, NOW, **rules)
    assert spent.status == "dead" and spent.dead_reason == "gave up after 3 attempts; last: timeout"


def test_delivery_signature_is_hmac_over_timestamp_and_body():
    a = delivery.signature(b"k", "1700000000", b'{"id":1}')
    assert a.startswith("sha256=") and len(a) == 7 + 64
    assert a != delivery.signature(b"k", "1700000001", b'{"id":1}')
    assert a != delivery.signature(b"other", "1700000000", b'{"id":1}')


def test_delivery_reminder_goes_out_the_evening_before_in_local_time():
    starts = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)  # 09:00 on the 10th in Shanghai
    at = messages.reminder_time(starts, SHANGHAI, 18, NOW)
    assert at.astimezone(SHANGHAI) == datetime(2026, 12, 9, 18, 0, tzinfo=SHANGHAI)
    # booked for early tomorrow after 18:00 today: now, not in the past
    soon = datetime(2026, 12, 8, 23, 30, tzinfo=UTC)  # 07:30 on the 9th
    late_now = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)  # 19:00 on the 8th
    assert messages.reminder_time(soon, SHANGHAI, 18, late_now) == late_now
    # never later than an hour before the appointment
    dawn = datetime(2026, 12, 9, 19, 0, tzinfo=UTC)  # 03:00 on the 10th
    assert messages.reminder_time(dawn, SHANGHAI, 23, NOW) <= dawn - timedelta(hours=1)


def test_delivery_messages_are_in_the_customers_language_and_local_time():
    at = datetime(2026, 12, 8, 6, 5, tzinfo=UTC)
    zh = messages.text("crew_arrived", "zh-CN", SHANGHAI, NOW, number="WO-1", time=at)
    en = messages.text("crew_arrived", "en", SHANGHAI, NOW, number="WO-1", time=at)
    assert zh == "【供电服务】工单 WO-1：抢修人员已于 14:05 到达现场。"
    assert en == "GridCrew: repair WO-1: the crew arrived on site at 14:05."
