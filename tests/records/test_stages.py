"""The pure stage rules: deadlines per service class, one-at-a-time moves, warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mobile_api.track import stages

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_end_to_end_deadlines_follow_the_service_standard():
    assert stages.deadline("lv_residential", "energized", T0) - T0 == timedelta(hours=48)
    assert stages.deadline("hv", "survey", T0) - T0 == timedelta(hours=24)
    assert stages.deadline("emergency", "energized", T0) - T0 == timedelta(hours=24)
    for per_stage in stages.DEADLINE_HOURS.values():
        hours = [per_stage[s] for s in stages.STAGES]
        assert hours == sorted(hours) and hours[0] == 0
    with pytest.raises(stages.UnknownServiceClass, match="known: lv_residential"):
        stages.deadline("three_phase", "survey", T0)


def test_stages_move_forward_one_at_a_time():
    assert stages.can_move("accepted", "survey")
    assert not stages.can_move("accepted", "plan")
    assert not stages.can_move("plan", "survey")
    assert not stages.can_move("energized", "energized")
    assert stages.next_stage("energized") is None


def test_plan_marks_done_current_pending_and_lateness():
    reached = {"survey": T0 + timedelta(hours=13)}
    now = T0 + timedelta(hours=20)
    plan = stages.plan("lv_residential", T0, "survey", reached, now)
    assert [(s.stage, s.state) for s in plan] == [
        ("accepted", "done"),
        ("survey", "current"),
        ("plan", "pending"),
        ("construction", "pending"),
        ("energized", "pending"),
    ]
    assert plan[0].reached_at == T0 and plan[0].on_time is True
    assert plan[1].on_time is False  # 13 h > 12 h
    assert plan[2].on_time is False  # due at 18 h, now 20 h, not reached
    assert plan[3].on_time is None
    assert {s.owner for s in plan} == set(stages.OWNERS.values())


def test_warning_once_less_than_a_quarter_of_the_stage_time_is_left():
    # survey: 12 h allowed, warned from 9 h on
    assert stages.warning("lv_residential", T0, "accepted", T0 + timedelta(hours=8)) is None
    near = stages.warning("lv_residential", T0, "accepted", T0 + timedelta(hours=9, minutes=30))
    assert near is not None and near.stage == "survey" and not near.breached
    assert near.minutes_left == pytest.approx(150)
    late = stages.warning("lv_residential", T0, "accepted", T0 + timedelta(hours=13))
    assert late is not None and late.breached and late.minutes_left == pytest.approx(-60)
    # plan: from 12 h to 18 h = 6 h allowed, warned from 16.5 h on
    assert stages.warning("lv_residential", T0, "survey", T0 + timedelta(hours=16)) is None
    assert stages.warning("lv_residential", T0, "survey", T0 + timedelta(hours=17)) is not None
    assert stages.warning("lv_residential", T0, "energized", T0 + timedelta(days=9)) is None


def test_repair_progress_follows_the_work_order_status():
    done = stages.repair_progress("en_route", {"reported": T0})
    assert [s["step"] for s in done["steps"] if s["done"]] == ["reported", "assigned", "en_route"]
    assert done["steps"][0]["at"] == T0 and done["next"]["step"] == "on_site"
    assert stages.repair_progress("signed_off", {})["next"] is None
    assert stages.repair_progress("cannot_complete", {})["next"] is None
    assert stages.repair_progress("declined", {})["next"]["step"] == "assigned"
