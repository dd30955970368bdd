"""One-tap outage reports: a meter or phone number, no account; join or open an incident."""
