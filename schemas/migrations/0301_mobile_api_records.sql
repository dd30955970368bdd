-- Mobile API: the crew's status transitions (client and server time of each),
-- the stored results of idempotent requests, and immutable sign-offs.

CREATE TABLE work_order_transitions (
    id             bigserial PRIMARY KEY,
    work_order_id  bigint NOT NULL REFERENCES work_orders (id),
    crew_id        text REFERENCES crews (id),
    actor          text NOT NULL,
    from_status    text NOT NULL,
    to_status      text NOT NULL,
    reason         text,
    client_time    timestamptz NOT NULL,
    server_time    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON work_order_transitions (work_order_id, id);

-- One row per (caller, Idempotency-Key): the request's fingerprint and the
-- answer given, replayed for the same key and body.
CREATE TABLE idempotency_keys (
    username        text NOT NULL REFERENCES users (username),
    key             text NOT NULL,
    fingerprint     text NOT NULL,
    status_code     integer NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, key)
);

-- Signed-off records never change: refuse UPDATE and DELETE on the sign-off
-- and on its completion rating (TRUNCATE by `seed-demo --replace` still works).
CREATE FUNCTION refuse_signoff_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signed-off records are immutable (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER signoffs_immutable BEFORE UPDATE OR DELETE ON signoffs
    FOR EACH ROW EXECUTE FUNCTION refuse_signoff_change();
CREATE TRIGGER ratings_immutable BEFORE UPDATE OR DELETE ON ratings
    FOR EACH ROW WHEN (OLD.stage = 'completion') EXECUTE FUNCTION refuse_signoff_change();
