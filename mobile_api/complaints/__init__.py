"""Complaints as a closed loop: graded, routed, deadlines, steps, warnings, KPIs."""
