"""Tests of the customer channels (outage reports, complaints, planned outages, trackers, TLS)."""
