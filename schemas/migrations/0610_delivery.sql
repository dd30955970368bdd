-- Delivering the outbox: each notification's state (queued / sent / dead), every attempt
-- with its answer, the customers' Web Push subscriptions, language and e-mail, crew members
-- by name and the stored, immutable service confirmation sheets.
-- notifications.sent_at keeps its meaning: delivered, the receiver accepted it.

ALTER TABLE notifications
    ADD COLUMN status          text NOT NULL DEFAULT 'queued'
                               CHECK (status IN ('queued', 'sent', 'dead')),
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,      -- a retry waits until then (null: at due_at)
    ADD COLUMN lease_until     timestamptz,      -- a worker is sending it until then
    ADD COLUMN dead_reason     text;
UPDATE notifications SET status = 'sent' WHERE sent_at IS NOT NULL;
CREATE INDEX notifications_deliverable ON notifications (due_at, id) WHERE status = 'queued';
CREATE INDEX notifications_queued_per_customer
    ON notifications ((coalesce(customer_id, recipient)), channel, due_at, id)
    WHERE status = 'queued';

-- One row per try to hand a notification to its channel; outcome null while in flight
-- (a worker killed mid-send leaves it null, the next claim marks it interrupted).
CREATE TABLE notification_attempts (
    id               bigserial PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications (id),
    attempt          integer NOT NULL,
    channel          text NOT NULL,
    worker           text NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at      timestamptz,
    outcome          text CHECK (outcome IN ('accepted', 'retry', 'final', 'interrupted')),
    status_code      integer,
    answer           text NOT NULL DEFAULT '',
    UNIQUE (notification_id, attempt)
);

-- A customer's browser subscribed to Web Push on the customer page.
CREATE TABLE push_subscriptions (
    id            bigserial PRIMARY KEY,
    customer_id   text NOT NULL REFERENCES customers (id),
    endpoint      text NOT NULL UNIQUE,
    p256dh        text NOT NULL,
    auth          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    active        boolean NOT NULL DEFAULT true,
    ended_reason  text
);
CREATE INDEX ON push_subscriptions (customer_id) WHERE active;

ALTER TABLE customers
    ADD COLUMN language text NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('zh-CN', 'en')),
    ADD COLUMN email    text;

-- The people of a crew, by name, as the confirmation sheet prints them.
CREATE TABLE crew_members (
    crew_id  text NOT NULL REFERENCES crews (id),
    name     text NOT NULL,
    role     text NOT NULL DEFAULT 'member' CHECK (role IN ('leader', 'member')),
    PRIMARY KEY (crew_id, name)
);

-- The sheet as rendered once at sign-off; every later read serves these bytes.
CREATE TABLE signoff_sheets (
    work_order_id  bigint PRIMARY KEY REFERENCES work_orders (id),
    storage_key    text NOT NULL,
    sha256         text NOT NULL,
    size_bytes     integer NOT NULL,
    rendered_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER signoff_sheets_immutable BEFORE UPDATE OR DELETE ON signoff_sheets
    FOR EACH ROW EXECUTE FUNCTION refuse_signoff_change();
