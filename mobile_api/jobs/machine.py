"""The work-order state machine as the crew sees it: pure, no database.

Owns the crew's transitions only; the dispatcher's (open <-> assigned,
cancelled) and ``signed_off`` (the sign-off endpoint) are never granted here.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = (
    "open",
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "work_done",
    "signed_off",
    "declined",
    "cannot_complete",
    "cancelled",
)
ACTIVE = ("assigned", "accepted", "en_route", "on_site", "work_done")
"""Statuses in which a job is on a crew's list."""

_CREW_MOVES: dict[str, tuple[str, ...]] = {
    "assigned": ("accepted", "declined", "cannot_complete"),
    "accepted": ("en_route", "cannot_complete"),
    "en_route": ("on_site", "cannot_complete"),
    "on_site": ("work_done", "cannot_complete"),
}
NEEDS_REASON = ("declined", "cannot_complete")
NO_CHECK_IN = "no_accepted_check_in"
"""The flag of an ``on_site`` taken before any accepted check-in: accepted (a crew may
be on site with a poor fix) and shown on the board, never silently trusted."""


@dataclass(frozen=True)
class Move:
    """An allowed transition: what is recorded and where the job ends up."""

    from_status: str
    requested: str
    resulting: str
    reason: str | None
    flag: str | None = None


class IllegalTransition(Exception):
    def __init__(self, current: str, requested: str, allowed: tuple[str, ...]) -> None:
        self.current, self.requested, self.allowed = current, requested, allowed
        if requested == "signed_off":
            hint = "a job is signed off only through POST /v1/jobs/{id}/signoff"
        elif allowed:
            hint = f"from {current} you can go to {', '.join(allowed)}"
        else:
            hint = f"a {current} job takes no further status from the crew"
        super().__init__(f"cannot go from {current} to {requested}: {hint}")


class AlreadyEnRoute(Exception):
    """A crew drives to one job at a time: a second ``en_route`` is refused."""

    def __init__(self, other_job: str) -> None:
        self.other_job = other_job
        super().__init__(
            f"you are already en route to {other_job}; arrive there (on_site) or give it up"
            " (cannot_complete) before setting off for another job"
        )


class ReasonRequired(Exception):
    def __init__(self, requested: str) -> None:
        self.requested = requested
        super().__init__(f"{requested} needs a reason (say why, e.g. 'no access to the site')")


def allowed_moves(current: str) -> tuple[str, ...]:
    """The statuses a crew may ask for from *current*."""
    return _CREW_MOVES.get(current, ())


def transition(
    current: str,
    requested: str,
    reason: str | None,
    *,
    checked_in: bool = True,
    en_route_to: str | None = None,
) -> Move:
    """Check one crew transition; a declined job goes back to ``open``.

    *checked_in*: the job has an accepted check-in (an ``on_site`` without one is
    accepted with the flag ``NO_CHECK_IN``); *en_route_to*: the number of another job
    the crew is en route to (a second ``en_route`` is refused)."""
    allowed = allowed_moves(current)
    if requested not in allowed:
        raise IllegalTransition(current, requested, allowed)
    reason = (reason or "").strip() or None
    if requested in NEEDS_REASON and reason is None:
        raise ReasonRequired(requested)
    if requested == "en_route" and en_route_to is not None:
        raise AlreadyEnRoute(en_route_to)
    resulting = "open" if requested == "declined" else requested
    flag = NO_CHECK_IN if requested == "on_site" and not checked_in else None
    return Move(current, requested, resulting, reason, flag)
