"""Crew GPS positions: stored in the hypertable; only a newer fix moves the crew."""
