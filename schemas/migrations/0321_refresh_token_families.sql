-- Mobile API (issue 18): refresh tokens descend from one login (a family); reusing a spent
-- one revokes the whole family, so a stolen token dies with the one it was copied from.
ALTER TABLE refresh_tokens ADD COLUMN family uuid;
UPDATE refresh_tokens SET family = id WHERE family IS NULL;
ALTER TABLE refresh_tokens ALTER COLUMN family SET NOT NULL;
ALTER TABLE refresh_tokens ADD COLUMN revoked_at timestamptz;
CREATE INDEX ON refresh_tokens (family);
