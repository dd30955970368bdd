-- A crew's state follows its jobs (issue 16): 'busy' while one of its active
-- assignments is en route or on site, 'available' otherwise. The one writer of
-- crews.state between those two values is this trigger, whoever changes the job
-- (the crew's app, the offline sync, the sign-off, the dispatcher); 'off_shift'
-- and 'offline' are set by people and left alone.
CREATE FUNCTION crew_state_of(crew text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (
        SELECT 1 FROM assignments a JOIN work_orders w ON w.id = a.work_order_id
        WHERE a.crew_id = crew AND a.active AND w.status IN ('en_route', 'on_site')
    ) THEN 'busy' ELSE 'available' END
$$;

CREATE FUNCTION refresh_crew_state(crew text) RETURNS void
LANGUAGE sql AS $$
    UPDATE crews SET state = crew_state_of(crew)
    WHERE id = crew AND state IN ('available', 'busy') AND state <> crew_state_of(crew)
$$;

CREATE FUNCTION crew_state_after_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_crew_state(a.crew_id)
    FROM assignments a WHERE a.work_order_id = NEW.id AND a.active;
    RETURN NULL;
END
$$;

CREATE FUNCTION crew_state_after_assignment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_crew_state(NEW.crew_id);
    IF TG_OP = 'UPDATE' AND OLD.crew_id <> NEW.crew_id THEN
        PERFORM refresh_crew_state(OLD.crew_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER crew_state_follows_job AFTER UPDATE OF status ON work_orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION crew_state_after_job();
CREATE TRIGGER crew_state_follows_assignment AFTER INSERT OR UPDATE OF active, crew_id
    ON assignments FOR EACH ROW EXECUTE FUNCTION crew_state_after_assignment();

-- Bring the crews of a running database in line once.
UPDATE crews SET state = crew_state_of(id)
WHERE state IN ('available', 'busy') AND state <> crew_state_of(id);
