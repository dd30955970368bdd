"""The stream resends the large alarm and meters-off layers at once, then at most every 2 s."""

from __future__ import annotations

from mobile_api.board.stream import LayerThrottle


def test_first_incident_change_sends_the_layers_at_once() -> None:
    t = LayerThrottle(every_s=2)
    assert t.wait_s(100.0, 15) == 15
    assert t.due(100.0, incidents_changed=True)


def test_a_storm_is_thinned_and_its_last_change_still_sent() -> None:
    t = LayerThrottle(every_s=2)
    assert t.due(100.0, True)
    assert not t.due(100.5, True)  # too soon: deferred
    assert t.pending and t.wait_s(100.5, 15) == 1.5
    assert not t.due(101.0, False)  # other channels meanwhile: still deferred
    assert t.due(102.0, False)  # the deferred resend
    assert not t.pending and t.wait_s(102.0, 15) == 15


def test_no_incident_no_layers() -> None:
    t = LayerThrottle(every_s=2)
    assert not t.due(100.0, False) and not t.pending
