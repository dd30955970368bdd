"""Crew positions from off-the-shelf trackers in the OsmAnd protocol (Traccar Client)."""
