"""GPS check-ins at a job site: the geofence (pure) and the record of every attempt."""
