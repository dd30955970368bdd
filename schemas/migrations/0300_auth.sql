-- Mobile API: single-use refresh tokens (the access tokens are stateless JWTs).
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    username    text NOT NULL REFERENCES users (username),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX ON refresh_tokens (username);
