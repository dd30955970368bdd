-- One rate limiter (mobile_api/ratelimit.py) counts every anonymous endpoint in
-- client_hits, scoped by endpoint; the customer lookups' own table is retired.
DROP TABLE lookup_attempts;
