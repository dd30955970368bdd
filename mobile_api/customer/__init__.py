"""The customer page at ``/c/``: report an outage, follow an application or repair, rate,
complain, planned outages, Web Push subscription."""
