"""The crew simulator sets off when the plan says (``leave_at``), not hours early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulators.crews import _until_leave


def test_a_crew_waits_for_leave_at_only_for_a_job_it_has_not_started():
    later = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    job = {"status": "assigned", "explanation": {"leave_at": later}}
    assert 1790 < _until_leave(job) <= 1800
    assert _until_leave({**job, "status": "en_route"}) == 0
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert _until_leave({"status": "accepted", "explanation": {"leave_at": earlier}}) == 0
    assert _until_leave({"status": "assigned", "explanation": None}) == 0
    assert _until_leave(None) == 0
