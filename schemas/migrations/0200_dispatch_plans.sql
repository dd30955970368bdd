-- One row per re-plan the dispatcher committed: what it saw, what it did, and
-- the jobs it could not assign with the reason (what the board shows).
CREATE TABLE dispatch_plans (
    id           bigserial PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    leader       text NOT NULL,                 -- the dispatcher instance that wrote it
    trigger      text NOT NULL,                 -- start, notify, positions, periodic
    solver       text NOT NULL,
    crews        integer NOT NULL,
    jobs         integer NOT NULL,
    assigned     integer NOT NULL,
    changed      integer NOT NULL,
    unassigned   jsonb NOT NULL DEFAULT '[]',   -- [{"work_order_id": ..., "reason": ...}]
    objective    bigint NOT NULL DEFAULT 0,
    solve_ms     integer NOT NULL,
    total_ms     integer NOT NULL,
    stats        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON dispatch_plans (created_at DESC);

-- The plan that last wrote or confirmed an assignment.
ALTER TABLE assignments ADD COLUMN plan_id bigint REFERENCES dispatch_plans (id);
