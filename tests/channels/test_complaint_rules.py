"""The complaint rules (pure): grading, routing, working days, deadlines, steps, warnings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gridcrew.i18n import catalogue
from gridcrew.notices import messages
from mobile_api.complaints import rules

SH = rules.SHANGHAI


def at(y, mo, d, h=10, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


@pytest.mark.parametrize(
    ("severity", "repeats", "public", "level"),
    [
        ("minor", 0, False, 4),
        ("moderate", 0, False, 3),
        ("serious", 0, False, 2),
        ("critical", 0, False, 1),
        ("minor", 2, False, 3),
        ("minor", 1, False, 4),
        ("moderate", 0, True, 2),
        ("moderate", 3, True, 1),
        ("serious", 5, True, 1),
    ],
)
def test_grade_by_severity_repetition_and_exposure(severity, repeats, public, level):
    assert rules.grade(severity, repeats, public) == level


def test_routing_by_level():
    assert rules.teams_for(1) == ("supervision", "marketing")
    assert rules.teams_for(2) == ("supervision",)
    assert rules.teams_for(3) == ("marketing",)
    assert rules.teams_for(4) == ("customer_service_centre",)


def test_working_days_skip_the_weekend():
    # 2026-12-04 is a Friday
    assert rules.add_working_days(at(2026, 12, 4, 15), 2) == at(2026, 12, 8, 15)
    assert rules.add_working_days(at(2026, 12, 4, 15), 4) == at(2026, 12, 10, 15)
    assert rules.add_working_days(at(2026, 12, 1, 9), 2) == at(2026, 12, 3, 9)
    # received on Saturday: counting starts Monday 00:00
    assert rules.add_working_days(at(2026, 12, 5, 11), 2) == at(2026, 12, 9, 0)
    # holidays are skipped like weekends
    assert rules.add_working_days(
        at(2026, 12, 4, 15), 2, holidays=frozenset({date(2026, 12, 7)})
    ) == at(2026, 12, 9, 15)


def test_working_days_count_in_local_time():
    # Friday 23:30 in Shanghai is Friday 15:30 UTC: two working days is Tuesday 23:30 local
    start_utc = at(2026, 12, 4, 23, 30).astimezone(rules.ZoneInfo("UTC"))
    assert rules.add_working_days(start_utc, 2) == at(2026, 12, 8, 23, 30)


def test_deadlines_per_level():
    r = at(2026, 12, 1, 10)
    d1 = rules.deadlines(r, 1, False)
    assert d1.contact_due - r == timedelta(minutes=30)
    assert d1.specialist_due - r == timedelta(hours=2)
    assert d1.plan_due - r == timedelta(hours=8)
    assert d1.resolve_due == at(2026, 12, 3, 10)
    d3 = rules.deadlines(r, 3, True)
    assert d3.contact_due - r == timedelta(hours=24)
    assert d3.specialist_due - d3.contact_due == timedelta(hours=2)
    assert d3.plan_due - d3.contact_due == timedelta(hours=8)
    assert d3.resolve_due == at(2026, 12, 7, 10)  # 4 working days from Tuesday: Monday


def test_steps_in_order_and_unsatisfied_reopens():
    status = "received"
    for step in ("contact", "specialist", "plan", "resolve", "return_visit"):
        status = rules.next_status(status, step)
    assert status == "return_visited"
    assert rules.next_status(status, "satisfaction", True) == "closed"
    assert rules.next_status(status, "satisfaction", False) == "contacted"
    with pytest.raises(rules.StepError) as exc:
        rules.next_status("received", "resolve")
    assert exc.value.allowed == "contact"
    with pytest.raises(rules.StepError):
        rules.next_status("closed", "contact")


def test_warning_overdue_and_near():
    start = at(2026, 12, 1, 10)
    due = start + timedelta(hours=4)
    assert rules.warning(start + timedelta(hours=1), start, due) is None
    assert rules.warning(start + timedelta(hours=3, minutes=10), start, due) == "near_overdue"
    assert rules.warning(due, start, due) == "overdue"
    assert rules.warning(start, start, None) is None


def test_step_message_names_the_step_and_the_next_deadline_in_local_time():
    due = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    now = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert messages.complaint_text("en", number="CP-1", action="contact", due=due, now=now) == (
        "GridCrew: complaint CP-1: an agent has taken up your complaint. Next step due by"
        " Mar 2 09:30."
    )
    closed = messages.complaint_text(
        "zh-CN", number="CP-1", action="satisfaction", due=None, now=now
    )
    assert closed == "【供电服务】投诉 CP-1：投诉已办结，感谢您的确认。"
    news = {
        k.removeprefix("notify.complaint.")
        for k in catalogue("en")
        if k.startswith("notify.complaint.")
    }
    assert news == set(rules.DONE_COLUMN) | {"reopened"}
