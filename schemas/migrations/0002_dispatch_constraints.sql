-- A dispatcher's manual constraints on the plan: pin a job to a crew, or forbid
-- a pairing. Written by the board (mobile API), obeyed by the dispatcher.
CREATE TABLE dispatch_constraints (
    id             bigserial PRIMARY KEY,
    work_order_id  bigint NOT NULL REFERENCES work_orders (id),
    crew_id        text NOT NULL REFERENCES crews (id),
    kind           text NOT NULL CHECK (kind IN ('pin', 'forbid')),
    reason         text NOT NULL DEFAULT '',
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    removed_at     timestamptz
);
-- At most one live pin per job; a pairing is forbidden at most once.
CREATE UNIQUE INDEX dispatch_constraints_one_pin ON dispatch_constraints (work_order_id)
    WHERE kind = 'pin' AND removed_at IS NULL;
CREATE UNIQUE INDEX dispatch_constraints_one_forbid ON dispatch_constraints (work_order_id, crew_id)
    WHERE kind = 'forbid' AND removed_at IS NULL;
