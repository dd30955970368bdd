-- The audit chain is sealed after commit (gridcrew.audit.seal) instead of under
-- a lock held by every writer: entries arrive unsealed (no seq, no hashes) and
-- the sealer chains them in sequence order. Entries chained before this
-- migration keep their hashes; their sequence is their id order, which was
-- their chain order.
ALTER TABLE audit_log
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN hash DROP NOT NULL,
    ADD COLUMN seq bigint UNIQUE;

UPDATE audit_log a SET seq = o.n
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM audit_log) o
WHERE a.id = o.id;

CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;
