"""The period a person asks for, read in the utility's local zone (pure; no clock, no I/O).

Used by ``GET /v1/kpi`` and ``gridcrew report`` so that a date means the same day in both.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo


class BadPeriod(ValueError):
    pass


def local_period(start_text: str, end_text: str | None, zone: tzinfo) -> tuple[datetime, datetime]:
    """The period a person asks for: a date (``2026-12-08``) is that day in the utility's
    *zone*, a time without an offset is a local time, one with an offset is taken as
    it is (a date as *to* is the start of that day); no end means one day after the
    start. Raises BadPeriod on anything else."""

    def parse(text: str, what: str) -> datetime:
        text = text.strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(), zone)
            at = datetime.fromisoformat(text)
        except ValueError:
            raise BadPeriod(
                f"{what} {text!r} is neither a date (2026-12-08) nor a time"
                " (2026-12-08T09:00, with or without an offset)"
            ) from None
        return at if at.tzinfo else at.replace(tzinfo=zone)

    start = parse(start_text, "from")
    end = start + timedelta(days=1) if end_text is None else parse(end_text, "to")
    return start, end
