"""Stages of a meter-installation application (owners, deadlines, what is next, warnings)
and the steps of a repair as its customer sees them.

Pure functions over plain values (the one-stop service standard of the brief);
no database, no clock: callers pass ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STAGES: tuple[str, ...] = ("accepted", "survey", "plan", "construction", "energized")

STAGE_LABELS: dict[str, str] = {
    "accepted": "Application accepted",
    "survey": "Site survey",
    "plan": "Supply plan",
    "construction": "Construction",
    "energized": "Meter installed and energized",
}

OWNERS: dict[str, str] = {
    "accepted": "customer service centre",
    "survey": "survey engineer",
    "plan": "planning office",
    "construction": "construction crew",
    "energized": "operations (energizing)",
}

# Hours after submission by which each stage must be reached. LV residential is
# accepted -> energized within 48 h, HV on site (survey) within 24 h, emergency
# (e.g. a hospital) energized within 24 h (seed 004); LV commercial follows the
# general rule of survey within 3 days and completion within 5 (seed 000,
# calendar days here).
DEADLINE_HOURS: dict[str, dict[str, float]] = {
    "lv_residential": {
        "accepted": 0,
        "survey": 12,
        "plan": 18,
        "construction": 30,
        "energized": 48,
    },
    "lv_commercial": {
        "accepted": 0,
        "survey": 72,
        "plan": 84,
        "construction": 96,
        "energized": 120,
    },
    "hv": {"accepted": 0, "survey": 24, "plan": 48, "construction": 96, "energized": 120},
    "emergency": {"accepted": 0, "survey": 4, "plan": 8, "construction": 16, "energized": 24},
}

# A stage is "about to breach" once less than this share of the time allowed
# for it (from the previous stage's deadline to its own) is left.
WARNING_SHARE = 0.25


class UnknownServiceClass(ValueError):
    pass


@dataclass(frozen=True)
class Stage:
    stage: str
    label: str
    owner: str
    deadline: datetime
    reached_at: datetime | None
    state: str  # done, current, pending
    on_time: bool | None  # None while not reached and the deadline has not passed


@dataclass(frozen=True)
class Warning:
    stage: str
    owner: str
    deadline: datetime
    minutes_left: float
    breached: bool


def deadline_hours(service_class: str) -> dict[str, float]:
    try:
        return DEADLINE_HOURS[service_class]
    except KeyError:
        raise UnknownServiceClass(
            f"service class {service_class!r} has no stage deadlines; "
            f"known: {', '.join(DEADLINE_HOURS)}"
        ) from None


def deadline(service_class: str, stage: str, submitted_at: datetime) -> datetime:
    return submitted_at + timedelta(hours=deadline_hours(service_class)[stage])


def next_stage(stage: str) -> str | None:
    i = STAGES.index(stage)
    return STAGES[i + 1] if i + 1 < len(STAGES) else None


def can_move(current: str, target: str) -> bool:
    """Stages move forward one at a time."""
    return target in STAGES and next_stage(current) == target


def plan(
    service_class: str,
    submitted_at: datetime,
    current: str,
    reached: dict[str, datetime],
    now: datetime,
) -> list[Stage]:
    """Every stage with its owner, deadline, when it was reached and whether on time.

    *reached* maps stages after 'accepted' to the time they were reached.
    """
    times = {"accepted": submitted_at, **reached}
    current_index = STAGES.index(current)
    out = []
    for i, name in enumerate(STAGES):
        due = deadline(service_class, name, submitted_at)
        at = times.get(name) if i <= current_index else None
        if at is not None:
            on_time: bool | None = at <= due
        else:
            on_time = False if now > due else None
        state = "done" if i < current_index else "current" if i == current_index else "pending"
        out.append(Stage(name, STAGE_LABELS[name], OWNERS[name], due, at, state, on_time))
    return out


def warning(
    service_class: str, submitted_at: datetime, current: str, now: datetime
) -> Warning | None:
    """The warning for the next stage when it is about to breach (or has), else None."""
    upcoming = next_stage(current)
    if upcoming is None:
        return None
    hours = deadline_hours(service_class)
    due = deadline(service_class, upcoming, submitted_at)
    allowed = timedelta(hours=hours[upcoming] - hours[current])
    left = due - now
    if left > allowed * WARNING_SHARE:
        return None
    return Warning(
        upcoming, OWNERS[upcoming], due, left.total_seconds() / 60, left.total_seconds() < 0
    )


# A repair as the customer sees it, and the step each work-order status has reached.
REPAIR_STEPS: tuple[tuple[str, str], ...] = (
    ("reported", "Fault reported"),
    ("assigned", "Crew assigned"),
    ("en_route", "Crew on the way"),
    ("on_site", "Crew on site"),
    ("work_done", "Repair done"),
    ("signed_off", "Confirmed by you"),
)
# The same steps of a job that is not a repair (an installation, an inspection).
STEP_LABELS_BY_KIND: dict[str, dict[str, str]] = {
    "meter_install": {"reported": "Installation requested", "work_done": "Installation done"},
    "inspection": {"reported": "Inspection requested", "work_done": "Inspection done"},
}
_STEP_OF_STATUS = {
    "open": 0,
    "declined": 0,
    "cancelled": 0,
    "assigned": 1,
    "accepted": 1,
    "en_route": 2,
    "on_site": 3,
    "cannot_complete": 3,
    "work_done": 4,
    "signed_off": 5,
}
_FINISHED = ("signed_off", "cancelled", "cannot_complete")


def repair_progress(
    status: str, times: dict[str, datetime | None], kind: str = "fault_repair"
) -> dict[str, Any]:
    """Steps done so far (with their times where known) and the next one, if any,
    labelled for the job's *kind*."""
    reached = _STEP_OF_STATUS[status]
    labels = {**dict(REPAIR_STEPS), **STEP_LABELS_BY_KIND.get(kind, {})}
    steps = [
        {"step": step, "label": labels[step], "done": i <= reached, "at": times.get(step)}
        for i, (step, _) in enumerate(REPAIR_STEPS)
    ]
    following = None
    if status not in _FINISHED and reached + 1 < len(REPAIR_STEPS):
        step = REPAIR_STEPS[reached + 1][0]
        following = {"step": step, "label": labels[step]}
    return {"steps": steps, "next": following}
