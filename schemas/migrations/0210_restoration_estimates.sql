-- Estimated restoration times (ETR): the dispatcher writes one per incident with
-- every plan that moves it, so that once power is back the ETR error is a KPI;
-- the incident and each active assignment carry the current one. The plan also
-- records the "now" its timetable was computed at.
ALTER TABLE dispatch_plans ADD COLUMN planned_at timestamptz;

ALTER TABLE incidents ADD COLUMN estimated_restoration timestamptz;

ALTER TABLE assignments ADD COLUMN estimated_restoration timestamptz;

CREATE TABLE restoration_estimates (
    id                     bigserial PRIMARY KEY,
    plan_id                bigint NOT NULL REFERENCES dispatch_plans (id),
    incident_id            bigint NOT NULL REFERENCES incidents (id),
    crew_eta               timestamptz,            -- the first crew's arrival (null: on site)
    estimated_restoration  timestamptz NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON restoration_estimates (incident_id, created_at);
