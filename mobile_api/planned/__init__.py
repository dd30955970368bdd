"""Planned outages: schedule, notify every downstream customer ahead of time, cancel."""
