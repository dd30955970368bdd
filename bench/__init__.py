"""Benchmarks of every service (``gridcrew bench``); never imported by product code."""
