-- Planned outages on feeder sections (scheduled by dispatchers; customer channels
-- notify the downstream customers). The gateway asks devices_in_planned_outage()
-- so that alarms from inside a planned window open no fault work order.
CREATE SEQUENCE planned_outage_number_seq;

CREATE TABLE planned_outages (
    id            bigserial PRIMARY KEY,
    number        text NOT NULL UNIQUE
                  DEFAULT 'PO-' || lpad(nextval('planned_outage_number_seq')::text, 6, '0'),
    section_id    text NOT NULL REFERENCES feeder_sections (id),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason        text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz
);
CREATE INDEX ON planned_outages (starts_at, ends_at) WHERE cancelled_at IS NULL;

-- Sections de-energised by planned work at time *at*: the planned section and
-- everything downstream of it.
CREATE FUNCTION sections_in_planned_outage(at timestamptz) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE affected AS (
        SELECT p.section_id AS id FROM planned_outages p
        WHERE p.cancelled_at IS NULL AND at >= p.starts_at AND at < p.ends_at
        UNION
        SELECT s.id FROM feeder_sections s JOIN affected a ON s.parent_section_id = a.id
    )
    SELECT id FROM affected
$$;

-- Of the given devices, those inside a planned outage at time *at*.
CREATE FUNCTION devices_in_planned_outage(ids text[], at timestamptz) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT d.id FROM devices d
    WHERE d.id = ANY (ids) AND d.section_id IN (SELECT sections_in_planned_outage(at))
$$;
