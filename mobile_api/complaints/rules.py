"""The complaint rules as pure functions: grading, routing, deadlines, working days, steps.

From the source documents: levels 1-4 by severity, repetition and public
exposure, routed by level (levels 1 and 2 to supervision, 1 and 3 to
marketing, 4 to the customer service centre; level 1 jointly); first contact
within 24 h (level 1: 30 min), a specialist within 2 h and a plan within 8 h
of that clock, resolved within 2 working days (4 when complex), then a
return visit and a satisfaction check; an unsatisfied customer reopens the
complaint (call-back 2 h, new plan 24 h). Nothing here reads a clock or a
database: times come in, times go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEVERITY_LEVEL = {"critical": 1, "serious": 2, "moderate": 3, "minor": 4}
REPEAT_ESCALATES_AT = 2  # earlier complaints of the same customer within REPEAT_WINDOW
REPEAT_WINDOW = timedelta(days=90)
TEAMS_BY_LEVEL = {
    1: ("supervision", "marketing"),
    2: ("supervision",),
    3: ("marketing",),
    4: ("customer_service_centre",),
}
RETURN_VISIT_AFTER = timedelta(hours=24)
REOPEN_CALL_BACK = timedelta(hours=2)
REOPEN_PLAN = timedelta(hours=24)
NEAR_SHARE = 0.25  # near-overdue: less than a quarter of the step's time left

# status -> (next step, status after it); "satisfaction" is special (reopen or close)
NEXT_STEP = {
    "received": ("contact", "contacted"),
    "contacted": ("specialist", "specialist"),
    "specialist": ("plan", "planned"),
    "planned": ("resolve", "resolved"),
    "resolved": ("return_visit", "return_visited"),
    "return_visited": ("satisfaction", "closed"),
}
# the due column of the step that is pending in each status
DUE_OF_STATUS = {
    "received": "contact_due",
    "contacted": "specialist_due",
    "specialist": "plan_due",
    "planned": "resolve_due",
    "resolved": "return_visit_due",
    "return_visited": "return_visit_due",
}
# the timestamp column each step sets
DONE_COLUMN = {
    "contact": "contacted_at",
    "specialist": "specialist_at",
    "plan": "planned_at",
    "resolve": "resolved_at",
    "return_visit": "return_visited_at",
    "satisfaction": "closed_at",
}


def grade(severity: str, repeat_count: int, public_exposure: bool) -> int:
    """Level 1 (most serious) to 4: severity sets it, repetition and exposure raise it."""
    level = SEVERITY_LEVEL[severity]
    if repeat_count >= REPEAT_ESCALATES_AT:
        level -= 1
    if public_exposure:
        level -= 1
    return max(1, level)


def teams_for(level: int) -> tuple[str, ...]:
    return TEAMS_BY_LEVEL[level]


def is_working_day(day: date, holidays: frozenset[date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: datetime,
    days: int,
    tz: ZoneInfo = SHANGHAI,
    holidays: frozenset[date] = frozenset(),
) -> datetime:
    """*days* working days after *start*, counted in local time; weekends are skipped.

    A start on a non-working day counts from the next working day's midnight,
    so a complaint received on Saturday with two working days is due Wednesday 00:00.
    """
    local = start.astimezone(tz)
    if not is_working_day(local.date(), holidays):
        day = local.date()
        while not is_working_day(day, holidays):
            day += timedelta(days=1)
        local = datetime.combine(day, time(0), tz)
    day, left = local.date(), days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            left -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tz)


@dataclass(frozen=True)
class Deadlines:
    contact_due: datetime
    specialist_due: datetime
    plan_due: datetime
    resolve_due: datetime


def deadlines(
    received_at: datetime, level: int, complex_case: bool, tz: ZoneInfo = SHANGHAI
) -> Deadlines:
    """The step deadlines of a new complaint.

    Level 1 runs the tiered clock from receipt (30 min, 2 h, 8 h); the other
    levels have 24 h for the first contact and the 2 h / 8 h clock starts there.
    """
    if level == 1:
        contact, clock = received_at + timedelta(minutes=30), received_at
    else:
        contact = received_at + timedelta(hours=24)
        clock = contact
    return Deadlines(
        contact_due=contact,
        specialist_due=clock + timedelta(hours=2),
        plan_due=clock + timedelta(hours=8),
        resolve_due=add_working_days(received_at, 4 if complex_case else 2, tz),
    )


def reopened_deadlines(at: datetime, complex_case: bool, tz: ZoneInfo = SHANGHAI) -> dict:
    """An unsatisfied customer: call back within 2 h, a new plan within 24 h, resolve again."""
    return {
        "specialist_due": at + REOPEN_CALL_BACK,
        "plan_due": at + REOPEN_PLAN,
        "resolve_due": add_working_days(at, 4 if complex_case else 2, tz),
    }


class StepError(ValueError):
    def __init__(self, status: str, step: str, allowed: str | None) -> None:
        self.allowed = allowed
        super().__init__(
            f"a complaint in status {status!r} cannot take step {step!r}"
            + (f"; the next step is {allowed!r}" if allowed else "; it is closed")
        )


def next_status(status: str, step: str, satisfied: bool | None = None) -> str:
    """The status after *step*; raises StepError when the step is out of order."""
    expected = NEXT_STEP.get(status)
    if expected is None or expected[0] != step:
        raise StepError(status, step, expected[0] if expected else None)
    if step == "satisfaction" and satisfied is False:
        return "contacted"
    return expected[1]


def warning(now: datetime, since: datetime, due: datetime | None) -> str | None:
    """'overdue', 'near_overdue' or None for a step that started at *since*."""
    if due is None:
        return None
    if now >= due:
        return "overdue"
    span = (due - since).total_seconds()
    if span > 0 and (due - now).total_seconds() <= NEAR_SHARE * span:
        return "near_overdue"
    return None


# what the customer is told after each step (and after a re-opening)
