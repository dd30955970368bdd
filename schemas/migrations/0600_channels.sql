-- Customer channels: one-tap outage reports, graded complaints with their
-- deadlines, planned-outage notices and third-party crew trackers (OsmAnd).

-- ---------------------------------------------------------------- rate limits
-- One row per request of an anonymous client on a limited endpoint; the
-- limiter counts the last minute and drops older rows of that client.
CREATE TABLE client_hits (
    scope       text NOT NULL,                 -- outage_report, complaint_lookup, ...
    client_key  text NOT NULL,                 -- the client's address
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON client_hits (scope, client_key, at);

-- ---------------------------------------------------------------- outage reports
CREATE TABLE outage_reports (
    id                 bigserial PRIMARY KEY,
    reported_at        timestamptz NOT NULL DEFAULT now(),
    meter_id           text NOT NULL REFERENCES devices (id),
    via                text NOT NULL CHECK (via IN ('meter', 'phone')),
    client_key         text NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('joined', 'opened', 'duplicate', 'planned')),
    incident_id        bigint REFERENCES incidents (id),
    work_order_id      bigint REFERENCES work_orders (id),
    planned_outage_id  bigint REFERENCES planned_outages (id),
    note               text NOT NULL DEFAULT ''
);
CREATE INDEX ON outage_reports (meter_id, reported_at DESC);
CREATE INDEX ON outage_reports (incident_id);

-- ---------------------------------------------------------------- complaints
CREATE SEQUENCE complaint_number_seq;

CREATE TABLE complaints (
    id                  bigserial PRIMARY KEY,
    number              text NOT NULL UNIQUE
                        DEFAULT 'CP-' || lpad(nextval('complaint_number_seq')::text, 6, '0'),
    customer_id         text REFERENCES customers (id),
    phone               text NOT NULL,
    channel             text NOT NULL
                        CHECK (channel IN ('app', 'call_centre', 'hotline_95598', 'web', 'media',
                                           'walk_in')),
    category            text NOT NULL,
    description         text NOT NULL,
    severity            text NOT NULL CHECK (severity IN ('minor', 'moderate', 'serious', 'critical')),
    public_exposure     boolean NOT NULL DEFAULT false,
    repeat_count        integer NOT NULL DEFAULT 0,   -- earlier complaints of this customer, 90 days
    complex             boolean NOT NULL DEFAULT false,
    level               smallint NOT NULL CHECK (level BETWEEN 1 AND 4),  -- 1 = most serious
    teams               text[] NOT NULL,
    work_order_number   text,
    application_number  text,
    status              text NOT NULL DEFAULT 'received'
                        CHECK (status IN ('received', 'contacted', 'specialist', 'planned',
                                          'resolved', 'return_visited', 'closed')),
    received_at         timestamptz NOT NULL DEFAULT now(),
    contact_due         timestamptz NOT NULL,
    specialist_due      timestamptz NOT NULL,
    plan_due            timestamptz NOT NULL,
    resolve_due         timestamptz NOT NULL,
    return_visit_due    timestamptz,
    contacted_at        timestamptz,
    specialist_at       timestamptz,
    planned_at          timestamptz,
    resolved_at         timestamptz,
    return_visited_at   timestamptz,
    closed_at           timestamptz,
    satisfied           boolean,
    reopen_count        integer NOT NULL DEFAULT 0,
    created_by          text NOT NULL
);
CREATE INDEX ON complaints (status);
CREATE INDEX ON complaints (customer_id, received_at);

CREATE TABLE complaint_steps (
    id            bigserial PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaints (id),
    step          text NOT NULL,
    actor         text NOT NULL,
    note          text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON complaint_steps (complaint_id);

-- ---------------------------------------------------------------- planned outages
ALTER TABLE planned_outages ADD COLUMN customers_affected integer NOT NULL DEFAULT 0;

-- One row per customer told about a planned outage (notice) or its cancellation.
CREATE TABLE planned_outage_notices (
    planned_outage_id  bigint NOT NULL REFERENCES planned_outages (id),
    customer_id        text NOT NULL REFERENCES customers (id),
    kind               text NOT NULL CHECK (kind IN ('notice', 'cancellation')),
    notification_id    bigint NOT NULL REFERENCES notifications (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (planned_outage_id, customer_id, kind)
);

-- Customers of every active meter in *section* or downstream of it.
CREATE FUNCTION customers_downstream_of(section text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE below AS (
        SELECT id FROM feeder_sections WHERE id = section
        UNION
        SELECT s.id FROM feeder_sections s JOIN below b ON s.parent_section_id = b.id
    )
    SELECT DISTINCT d.customer_id FROM devices d
    WHERE d.kind = 'meter' AND d.active AND d.customer_id IS NOT NULL
      AND d.section_id IN (SELECT id FROM below)
$$;

-- ---------------------------------------------------------------- trackers
-- Off-the-shelf tracker apps (Traccar Client, OsmAnd) registered to a crew.
CREATE TABLE trackers (
    id                text PRIMARY KEY,        -- the app's device identifier
    crew_id           text NOT NULL REFERENCES crews (id),
    protocol          text NOT NULL DEFAULT 'osmand' CHECK (protocol IN ('osmand')),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz,
    last_battery_pct  double precision
);
CREATE INDEX ON trackers (crew_id);
