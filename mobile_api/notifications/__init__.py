"""The notification outbox: rows an SMS or push sender reads and marks sent."""
