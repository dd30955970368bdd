-- Foundation schema: telemetry hypertables, topology, crews, work orders and
-- the records around them. Every replayable write has a key that makes the
-- replay a no-op. Domain migrations extend this in their own number ranges:
-- 01xx gateway, 02xx dispatch, 03xx mobile API, 04xx records, 05xx
-- simulators, 06xx customer channels.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- ---------------------------------------------------------------- territory
CREATE TABLE service_areas (
    id                    text PRIMARY KEY,
    name                  text NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('urban', 'rural')),
    arrival_deadline_min  integer NOT NULL CHECK (arrival_deadline_min > 0),
    polygon_wkt           text NOT NULL,
    priority_order        integer NOT NULL DEFAULT 0  -- higher wins where polygons overlap
);

CREATE TABLE substations (
    id    text PRIMARY KEY,
    name  text NOT NULL,
    lon   double precision NOT NULL,
    lat   double precision NOT NULL
);

CREATE TABLE feeders (
    id             text PRIMARY KEY,
    substation_id  text NOT NULL REFERENCES substations (id),
    name           text NOT NULL,
    voltage_kv     double precision NOT NULL DEFAULT 10
);

CREATE TABLE feeder_sections (
    id                 text PRIMARY KEY,
    feeder_id          text NOT NULL REFERENCES feeders (id),
    parent_section_id  text REFERENCES feeder_sections (id),
    line_type          text NOT NULL CHECK (line_type IN ('overhead', 'cable')),
    geometry_wkt       text NOT NULL,          -- LINESTRING lon lat
    length_m           double precision NOT NULL,
    mid_lon            double precision NOT NULL,
    mid_lat            double precision NOT NULL
);
CREATE INDEX ON feeder_sections (feeder_id);
CREATE INDEX ON feeder_sections (parent_section_id);

CREATE TABLE transformers (
    id           text PRIMARY KEY,
    section_id   text NOT NULL REFERENCES feeder_sections (id),
    rating_kva   double precision NOT NULL,
    lon          double precision NOT NULL,
    lat          double precision NOT NULL
);
CREATE INDEX ON transformers (section_id);

CREATE TABLE customers (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    phone      text NOT NULL,
    address    text NOT NULL,
    category   text NOT NULL DEFAULT 'residential'
               CHECK (category IN ('residential', 'commercial', 'critical')),
    lon        double precision NOT NULL,
    lat        double precision NOT NULL
);

-- Every thing that talks to us: meters, data concentrators, fault circuit
-- indicators (fci), Modbus field devices.
CREATE TABLE devices (
    id               text PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('meter', 'concentrator', 'fci', 'modbus')),
    lon              double precision NOT NULL,
    lat              double precision NOT NULL,
    feeder_id        text REFERENCES feeders (id),
    section_id       text REFERENCES feeder_sections (id),
    transformer_id   text REFERENCES transformers (id),
    concentrator_id  text REFERENCES devices (id),
    customer_id      text REFERENCES customers (id),
    service_area_id  text REFERENCES service_areas (id),
    nominal_voltage  double precision NOT NULL DEFAULT 230,
    credential_ref   text NOT NULL,            -- broker username; password = HMAC(device_secret, id)
    config           jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'unknown',
    last_seen        timestamptz,
    active           boolean NOT NULL DEFAULT true
);
CREATE INDEX ON devices (transformer_id);
CREATE INDEX ON devices (section_id);
CREATE INDEX ON devices (kind);

-- ---------------------------------------------------------------- telemetry
CREATE TABLE meter_readings (
    time               timestamptz NOT NULL,
    device_id          text NOT NULL,
    voltage_v          double precision,       -- 1-0:32.7.0
    current_a          double precision,       -- 1-0:31.7.0
    active_power_kw    double precision,       -- 1-0:1.7.0
    energy_import_kwh  double precision,       -- 1-0:1.8.0
    power_factor       double precision,       -- 1-0:13.7.0
    received_at        timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('meter_readings', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX meter_readings_device_time ON meter_readings (device_id, time);

CREATE TABLE device_events (
    time         timestamptz NOT NULL,
    device_id    text NOT NULL,
    event_id     text NOT NULL,                -- device sequence number or id: the replay key
    event_code   text NOT NULL,                -- IEC 61968-9 EndDeviceEventType, e.g. 10.26.80.59
    event_name   text NOT NULL,                -- readable: last_gasp, power_up, ...
    severity     text NOT NULL DEFAULT 'info',
    details      jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('device_events', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX device_events_key ON device_events (device_id, event_id, time);
CREATE INDEX ON device_events (event_name, time DESC);

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL DEFAULT 'mqtt',
    topic        text NOT NULL,
    device_id    text,
    reason       text NOT NULL,
    raw          bytea NOT NULL
);
CREATE INDEX ON dead_letters (received_at);

-- ---------------------------------------------------------------- crews
CREATE TABLE depots (
    id    text PRIMARY KEY,
    name  text NOT NULL,
    lon   double precision NOT NULL,
    lat   double precision NOT NULL
);

CREATE TABLE crews (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    skills       text[] NOT NULL,              -- overhead_line, cable, transformer, meter
    depot_id     text NOT NULL REFERENCES depots (id),
    shift_start  time NOT NULL DEFAULT '00:00',
    shift_end    time NOT NULL DEFAULT '23:59',
    state        text NOT NULL DEFAULT 'available'
                 CHECK (state IN ('available', 'busy', 'off_shift', 'offline')),
    last_lon     double precision,
    last_lat     double precision,
    last_fix_at  timestamptz
);

CREATE TABLE crew_positions (
    time         timestamptz NOT NULL,
    crew_id      text NOT NULL,
    lon          double precision NOT NULL,
    lat          double precision NOT NULL,
    accuracy_m   double precision,
    speed_mps    double precision,
    heading_deg  double precision,
    source       text NOT NULL DEFAULT 'api',
    received_at  timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('crew_positions', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX crew_positions_key ON crew_positions (crew_id, time);

CREATE TABLE users (
    username       text PRIMARY KEY,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('crew', 'dispatcher', 'admin')),
    crew_id        text REFERENCES crews (id),
    active         boolean NOT NULL DEFAULT true,
    CHECK ((role = 'crew') = (crew_id IS NOT NULL))
);

-- ---------------------------------------------------------------- outages and work
CREATE TABLE incidents (
    id                  bigserial PRIMARY KEY,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    cause               text NOT NULL DEFAULT 'alarm',   -- alarm, customer_report, rule
    scope               text NOT NULL CHECK (scope IN ('meter', 'transformer', 'section')),
    feeder_id           text REFERENCES feeders (id),
    section_id          text REFERENCES feeder_sections (id),
    transformer_id      text REFERENCES transformers (id),
    meters_affected     integer NOT NULL DEFAULT 0,
    customers_affected  integer NOT NULL DEFAULT 0,
    critical_customers  integer NOT NULL DEFAULT 0,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    first_alarm_at      timestamptz,
    closed_at           timestamptz,
    merged_into         bigint REFERENCES incidents (id),
    details             jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON incidents (status);

CREATE SEQUENCE work_order_number_seq;

CREATE TABLE work_orders (
    id                  bigserial PRIMARY KEY,
    number              text NOT NULL UNIQUE
                        DEFAULT 'WO-' || lpad(nextval('work_order_number_seq')::text, 6, '0'),
    kind                text NOT NULL CHECK (kind IN ('fault_repair', 'meter_install', 'inspection')),
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'assigned', 'accepted', 'en_route', 'on_site',
                                          'work_done', 'signed_off', 'declined',
                                          'cannot_complete', 'cancelled')),
    priority            integer NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5), -- 1 = most urgent
    lon                 double precision NOT NULL,
    lat                 double precision NOT NULL,
    site_polygon_wkt    text,
    address             text NOT NULL DEFAULT '',
    required_skills     text[] NOT NULL DEFAULT '{}',
    service_time_min    integer NOT NULL DEFAULT 60,
    description         text NOT NULL DEFAULT '',
    customer_id         text REFERENCES customers (id),
    application_number  text,
    service_area_id     text REFERENCES service_areas (id),
    incident_id         bigint REFERENCES incidents (id),
    reported_at         timestamptz NOT NULL DEFAULT now(),
    arrival_deadline    timestamptz,
    window_start        timestamptz,           -- appointment window (installs, inspections)
    window_end          timestamptz,
    due_at              timestamptz,
    arrived_at          timestamptz,           -- first accepted check-in
    work_done_at        timestamptz,
    restored_at         timestamptz,
    closed_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON work_orders (status);
CREATE INDEX ON work_orders (incident_id);
CREATE INDEX ON work_orders (application_number);

CREATE TABLE assignments (
    id                bigserial PRIMARY KEY,
    work_order_id     bigint NOT NULL REFERENCES work_orders (id),
    crew_id           text NOT NULL REFERENCES crews (id),
    sequence          integer NOT NULL,
    planned_arrival   timestamptz,
    planned_start     timestamptz,
    explanation       jsonb NOT NULL DEFAULT '{}',
    pinned            boolean NOT NULL DEFAULT false,
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    superseded_at     timestamptz
);
-- One active assignment per job, whatever the number of dispatchers.
CREATE UNIQUE INDEX assignments_one_active ON assignments (work_order_id) WHERE active;
CREATE INDEX ON assignments (crew_id) WHERE active;

CREATE TABLE check_ins (
    id              bigserial PRIMARY KEY,
    work_order_id   bigint NOT NULL REFERENCES work_orders (id),
    crew_id         text NOT NULL REFERENCES crews (id),
    lon             double precision NOT NULL,
    lat             double precision NOT NULL,
    accuracy_m      double precision NOT NULL,
    client_time     timestamptz NOT NULL,
    server_time     timestamptz NOT NULL DEFAULT now(),
    distance_m      double precision NOT NULL,
    accepted        boolean NOT NULL,
    flag            text                       -- outside_geofence, poor_accuracy, ...
);
CREATE INDEX ON check_ins (work_order_id);

CREATE TABLE photos (
    id              bigserial PRIMARY KEY,
    work_order_id   bigint NOT NULL REFERENCES work_orders (id),
    crew_id         text REFERENCES crews (id),
    stage           text NOT NULL CHECK (stage IN ('survey', 'construction', 'completion')),
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    storage_key     text NOT NULL,
    thumbnail_key   text,
    exif_lon        double precision,
    exif_lat        double precision,
    exif_time       timestamptz,
    distance_m      double precision,
    flags           text[] NOT NULL DEFAULT '{}',
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (work_order_id, sha256)
);

CREATE TABLE signoffs (
    id              bigserial PRIMARY KEY,
    work_order_id   bigint NOT NULL UNIQUE REFERENCES work_orders (id),
    customer_name   text NOT NULL,
    signed_at       timestamptz NOT NULL,
    work_summary    text NOT NULL,
    signature_key   text NOT NULL,
    signature_sha256 text NOT NULL,
    comment         text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ratings (
    id                   bigserial PRIMARY KEY,
    work_order_id        bigint NOT NULL REFERENCES work_orders (id),
    stage                text NOT NULL DEFAULT 'completion',
    attitude             smallint NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    professional_skill   smallint NOT NULL CHECK (professional_skill BETWEEN 1 AND 5),
    response_speed       smallint NOT NULL CHECK (response_speed BETWEEN 1 AND 5),
    process_standard     smallint NOT NULL CHECK (process_standard BETWEEN 1 AND 5),
    comment              text NOT NULL DEFAULT '',
    rated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (work_order_id, stage)
);

CREATE TABLE call_backs (
    id              bigserial PRIMARY KEY,
    work_order_id   bigint REFERENCES work_orders (id),
    reason          text NOT NULL,
    due_at          timestamptz NOT NULL,
    plan_due_at     timestamptz,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);

-- Meter-installation applications (one-stop service), looked up by number.
CREATE TABLE applications (
    number          text PRIMARY KEY,          -- AP-2026-000001
    customer_id     text NOT NULL REFERENCES customers (id),
    service_class   text NOT NULL DEFAULT 'lv_residential'
                    CHECK (service_class IN ('lv_residential', 'lv_commercial', 'hv', 'emergency')),
    stage           text NOT NULL DEFAULT 'accepted'
                    CHECK (stage IN ('accepted', 'survey', 'plan', 'construction', 'energized')),
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    lon             double precision NOT NULL,
    lat             double precision NOT NULL,
    address         text NOT NULL
);

CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    channel       text NOT NULL DEFAULT 'sms',
    recipient     text NOT NULL,
    customer_id   text REFERENCES customers (id),
    subject       text NOT NULL,              -- e.g. application number
    kind          text NOT NULL,
    body          text NOT NULL,
    due_at        timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    dedup_key     text UNIQUE
);

-- Tamper-evident record: each entry holds the previous entry's SHA-256.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    action      text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    prev_hash   text NOT NULL,
    hash        text NOT NULL UNIQUE
);
CREATE INDEX ON audit_log (entity, entity_id);
