"""Service-quality KPIs the regulator asks for, computed from the data."""
