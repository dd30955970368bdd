-- Mobile API (issue 18): every wrong password, by account and client address, so that
-- logins are throttled with growing delays across workers and failures are on record.
CREATE TABLE login_failures (
    username  text NOT NULL,                 -- as typed (an unknown name counts too)
    client    text NOT NULL,                 -- client address as the API sees it
    at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON login_failures (username, at);
CREATE INDEX ON login_failures (client, at);
CREATE INDEX ON login_failures (at);
