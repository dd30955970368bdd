-- Records (issue 6): customer lookups, application stage history, appointments.
-- Rate-limit state lives here so that it holds across API workers.

-- One row per customer lookup attempt that was let through (sliding window).
CREATE TABLE lookup_attempts (
    client  text NOT NULL,                 -- client IP as the API sees it
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON lookup_attempts (client, at);
CREATE INDEX ON lookup_attempts (at);

-- Every stage an application reached after 'accepted' (which is its submitted_at),
-- with the deadline and owner that applied when it was reached.
CREATE TABLE application_stage_changes (
    id                  bigserial PRIMARY KEY,
    application_number  text NOT NULL REFERENCES applications (number),
    from_stage          text NOT NULL,
    stage               text NOT NULL
                        CHECK (stage IN ('survey', 'plan', 'construction', 'energized')),
    owner               text NOT NULL,
    deadline            timestamptz NOT NULL,
    reached_at          timestamptz NOT NULL DEFAULT now(),
    actor               text NOT NULL,
    UNIQUE (application_number, stage)
);

-- Appointments booked with the customer of an application (survey visit,
-- construction, energizing); each gets a reminder one day before.
CREATE TABLE appointments (
    id                  bigserial PRIMARY KEY,
    application_number  text NOT NULL REFERENCES applications (number),
    purpose             text NOT NULL CHECK (purpose IN ('survey', 'construction', 'energize')),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL CHECK (ends_at > starts_at),
    booked_by           text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON appointments (application_number);

-- The outbox as a sender reads it: unsent rows by due time.
CREATE INDEX notifications_pending ON notifications (due_at) WHERE sent_at IS NULL;
CREATE INDEX ON notifications (subject);
