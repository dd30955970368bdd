"""The dispatcher board: a GeoJSON picture of crews, open jobs, incidents and
alarms, a server-sent-events stream of its changes, and manual pins."""
