-- Supply reliability (issue 22): interruptions per customer from the meters' own
-- power events and the incidents around them, and the sums every index is a ratio of.
-- Read-only functions; gridcrew/reliability.py turns the sums into SAIDI, SAIFI, ...
-- (docs/reliability.md defines every figure).

-- When the customer was connected (energised); NULL: before the records began.
ALTER TABLE customers ADD COLUMN connected_at timestamptz;

-- The meters' power events alone, by device and time (the pairing reads only these).
CREATE INDEX device_events_power ON device_events (device_id, time)
    WHERE event_name IN ('last_gasp', 'power_down', 'power_up');

-- Every section with each section it is fed through (itself included).
CREATE FUNCTION section_ancestors() RETURNS TABLE (section_id text, ancestor_id text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT s.id AS section_id, s.id AS ancestor_id, s.parent_section_id AS next
        FROM feeder_sections s
        UNION ALL
        SELECT up.section_id, p.id, p.parent_section_id
        FROM up JOIN feeder_sections p ON p.id = up.next
    )
    SELECT section_id, ancestor_id FROM up
$$;

-- The customers served in [p_start, p_end): one meter per customer (its lowest id), its
-- feeder and service-area kind, and since when it counts (the period's start, or its
-- connection when that falls inside the period).
CREATE FUNCTION reliability_customers(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (customer_id text, device_id text, section_id text, feeder_id text, area text,
               since timestamptz)
LANGUAGE sql STABLE AS $$
    WITH first_meter AS (
        SELECT m.customer_id, min(m.id) AS id FROM devices m
        WHERE m.kind = 'meter' AND m.active AND m.customer_id IS NOT NULL
        GROUP BY m.customer_id
    )
    SELECT c.id, d.id, d.section_id, d.feeder_id, coalesce(a.kind, 'unassigned'),
           greatest(p_start, coalesce(c.connected_at, p_start))
    FROM first_meter f
    JOIN customers c ON c.id = f.customer_id
    JOIN devices d ON d.id = f.id
    LEFT JOIN service_areas a ON a.id = d.service_area_id
    WHERE coalesce(c.connected_at, p_start) < p_end
$$;

-- Every loss of supply of a meter that overlaps [p_start, p_end), uncut:
--  * from the meter's own events: a last_gasp / power_down (the first of a run) up to its
--    next power_up;
--  * with no power_up, closed by the restoration of an incident covering the meter (the
--    work order's restored_at, else the incident's close; merged duplicates never close);
--  * a covered meter that stayed silent through an incident (no last gasp of its own)
--    is off from the incident's first alarm to its restoration.
-- ended_at NULL: still off. planned: it began inside a planned outage of its section or
-- of a section feeding it. Events older than p_lookback before the period are not read.
CREATE FUNCTION supply_interruptions(p_start timestamptz, p_end timestamptz,
                                     p_lookback interval DEFAULT interval '7 days')
RETURNS TABLE (device_id text, started_at timestamptz, ended_at timestamptz, planned boolean,
               source text)
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        -- per meter in time order (a byte-order sort: no collation cost): whether the
        -- event is a loss of supply, and whether it changes the meter's state
        SELECT e.device_id, e.time, e.event_name <> 'power_up' AS down,
               (e.event_name <> 'power_up')
                   IS DISTINCT FROM lag(e.event_name <> 'power_up') OVER w AS change
        FROM device_events e
        WHERE e.event_name IN ('last_gasp', 'power_down', 'power_up')
          AND e.time >= p_start - p_lookback AND e.time < p_end
        WINDOW w AS (PARTITION BY e.device_id COLLATE "C" ORDER BY e.time)
    ), runs AS (
        -- the state changes only: each loss of supply is followed by its power_up
        SELECT ev.device_id, ev.time, ev.down,
               lead(ev.time) OVER (PARTITION BY ev.device_id COLLATE "C" ORDER BY ev.time)
                   AS next_time
        FROM ev WHERE ev.change
    ), metered AS MATERIALIZED (
        SELECT r.device_id, r.time AS started_at, r.next_time AS ended_at
        FROM runs r WHERE r.down AND (r.next_time IS NULL OR r.next_time > p_start)
    ), anc AS MATERIALIZED (
        SELECT * FROM section_ancestors()
    ), incident AS (
        SELECT i.id, i.scope, i.section_id, i.transformer_id,
               coalesce(i.first_alarm_at, i.opened_at) AS began,
               coalesce((SELECT min(w.restored_at) FROM work_orders w WHERE w.incident_id = i.id),
                        i.closed_at) AS restored
        FROM incidents i
        WHERE i.merged_into IS NULL AND coalesce(i.first_alarm_at, i.opened_at) < p_end
          AND coalesce(i.closed_at, 'infinity') > p_start - p_lookback
    ), covered AS (
        -- silent: whether a silent meter under it counts as off (a meter-scope incident
        -- knows only its dark meters, which sent their own last gasp)
        SELECT i.id, i.began, i.restored, d.id AS device_id, i.scope <> 'meter' AS silent
        FROM incident i
        JOIN devices d ON d.kind = 'meter' AND d.active
             AND ((i.scope = 'section' AND d.section_id IN
                      (SELECT a.section_id FROM anc a WHERE a.ancestor_id = i.section_id))
                  OR (i.scope <> 'section' AND d.transformer_id = i.transformer_id))
    ), closed AS (
        SELECT m.device_id, m.started_at,
               coalesce(m.ended_at,
                        (SELECT min(c.restored) FROM covered c
                         WHERE c.device_id = m.device_id AND c.restored > m.started_at))
                   AS ended_at,
               'meter'::text AS source
        FROM metered m
    ), silent AS (
        SELECT c.device_id, c.began AS started_at, c.restored AS ended_at,
               'incident'::text AS source
        FROM covered c
        WHERE c.silent AND c.began < p_end AND coalesce(c.restored, 'infinity') > p_start
          AND NOT EXISTS (SELECT 1 FROM metered m
                          WHERE m.device_id = c.device_id
                            AND m.started_at < coalesce(c.restored, 'infinity')
                            AND coalesce(m.ended_at, 'infinity') > c.began)
    ), found AS (
        SELECT * FROM closed UNION ALL SELECT * FROM silent
    ), planned AS (
        -- the interruptions that began inside a planned outage of their meter's section
        -- or of a section feeding it: the few meters of planned sections first
        SELECT DISTINCT f.device_id, f.started_at
        FROM planned_outages p
        JOIN anc a ON a.ancestor_id = p.section_id
        JOIN devices d ON d.section_id = a.section_id AND d.kind = 'meter'
        JOIN found f ON f.device_id = d.id
                    AND f.started_at >= p.starts_at AND f.started_at < p.ends_at
        WHERE p.cancelled_at IS NULL AND p.starts_at < p_end
          AND p.ends_at > p_start - p_lookback
    )
    SELECT f.device_id, f.started_at, f.ended_at, p.device_id IS NOT NULL, f.source
    FROM found f
    LEFT JOIN planned p ON p.device_id = f.device_id AND p.started_at = f.started_at
    WHERE coalesce(f.ended_at, 'infinity') > p_start
$$;

-- The sums every index is a ratio of, per group (p_by: feeder, area, total) for the whole
-- period (bucket NULL) and per bucket of local days (p_bucket: 1 day, 1 week, 1 month;
-- days in p_zone). Interruptions count where they begin; their minutes are cut at the
-- period's, the buckets' and the days' edges and at the customer's connection.
-- Sustained: at least p_momentary long (a still-open one: so far, at now()); shorter ones
-- are momentary events. customers_served weighs a customer connected mid-period by the
-- share of the period (bucket) it was connected. Major event days (2.5 beta over the
-- period's daily SAIDI of unplanned sustained interruptions, non-zero days) come with
-- every row: t_med (minutes) and med_days, and the sums without those days.
CREATE FUNCTION reliability_sums(p_start timestamptz, p_end timestamptz, p_by text,
                                 p_bucket interval, p_zone text, p_momentary interval,
                                 p_cemi_n integer, p_lookback interval DEFAULT interval '7 days')
RETURNS TABLE (bucket date, group_key text, customers_served float8, period_minutes float8,
               interruptions bigint, interruptions_unplanned bigint,
               customer_minutes float8, customer_minutes_unplanned float8,
               customers_interrupted bigint, momentary_events bigint, cemi_customers bigint,
               interruptions_no_med bigint, customer_minutes_no_med float8,
               t_med float8, med_days date[])
LANGUAGE plpgsql STABLE
-- planned with the call's values (the chunks of the period only); JIT compiling costs
-- more than running; the sort of the period's power events fits in memory
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '128MB' AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH served AS MATERIALIZED (
        SELECT s.customer_id, s.device_id, s.since,
               CASE p_by WHEN 'feeder' THEN coalesce(s.feeder_id, 'unassigned')
                         WHEN 'area' THEN s.area ELSE 'total' END AS group_key
        FROM reliability_customers(p_start, p_end) s
    ), days AS MATERIALIZED (
        SELECT d::date AS day, time_bucket(p_bucket, d::date) AS bucket,
               greatest(p_start, d AT TIME ZONE p_zone) AS day_start,
               least(p_end, (d + interval '1 day') AT TIME ZONE p_zone) AS day_end
        FROM generate_series((p_start AT TIME ZONE p_zone)::date::timestamp,
                             ((p_end - interval '1 microsecond') AT TIME ZONE p_zone)::date::timestamp,
                             interval '1 day') d
    ), ints AS (
        SELECT s.customer_id, s.group_key, i.planned,
               greatest(i.started_at, s.since) AS cut_start,
               least(coalesce(i.ended_at, now()), p_end) AS cut_end,
               i.started_at >= s.since AND i.started_at < p_end AS counts,
               coalesce(i.ended_at, now()) - i.started_at < p_momentary AS momentary
        FROM supply_interruptions(p_start, p_end, p_lookback) i
        JOIN served s ON s.device_id = i.device_id
        WHERE coalesce(i.ended_at, now()) > s.since
    ), spread AS (
        -- the local days each interruption touches: most touch one
        SELECT i.*, (i.cut_start AT TIME ZONE p_zone)::date AS first_day,
               ((i.cut_end - interval '1 microsecond') AT TIME ZONE p_zone)::date AS last_day
        FROM ints i
    ), pieces AS MATERIALIZED (
        -- one row per interruption and local day it touches, its minutes cut to the day
        SELECT i.customer_id, i.group_key, i.planned, i.momentary, d.day, d.bucket,
               i.counts AND d.day = i.first_day AS begins,
               extract(epoch FROM least(i.cut_end, d.day_end)
                                  - greatest(i.cut_start, d.day_start))::float8 / 60 AS minutes
        FROM spread i JOIN days d ON d.day = i.first_day
        UNION ALL
        SELECT i.customer_id, i.group_key, i.planned, i.momentary, d.day, d.bucket, false,
               extract(epoch FROM least(i.cut_end, d.day_end)
                                  - greatest(i.cut_start, d.day_start))::float8 / 60
        FROM spread i
        CROSS JOIN LATERAL generate_series(1, i.last_day - i.first_day) g(k)
        JOIN days d ON d.day = i.first_day + g.k
        WHERE i.last_day > i.first_day
    ), total_served AS (
        SELECT count(*) FILTER (WHERE s.since = p_start)
               + coalesce(sum(extract(epoch FROM p_end - s.since)::float8
                              / extract(epoch FROM p_end - p_start)::float8)
                              FILTER (WHERE s.since > p_start), 0) AS n
        FROM served s
    ), daily AS (
        SELECT p.day, sum(p.minutes) FILTER (WHERE NOT p.momentary AND NOT p.planned)
                      / nullif((SELECT n FROM total_served), 0) AS saidi
        FROM pieces p GROUP BY p.day
    ), med AS (
        SELECT exp(avg(ln(saidi)) + 2.5 * stddev_samp(ln(saidi)))::float8 AS t_med
        FROM daily WHERE saidi > 0
    ), med_days AS (
        SELECT coalesce(array_agg(d.day ORDER BY d.day), '{}') AS days
        FROM daily d, med WHERE d.saidi > med.t_med
    ), sums AS (
        -- per group, for each bucket and for the whole period (bucket NULL)
        SELECT p.group_key, p.bucket, GROUPING(p.bucket) = 1 AS whole,
               count(*) FILTER (WHERE p.begins AND NOT p.momentary) AS interruptions,
               count(*) FILTER (WHERE p.begins AND NOT p.momentary AND NOT p.planned)
                   AS interruptions_unplanned,
               count(*) FILTER (WHERE p.begins AND NOT p.momentary
                                  AND p.day <> ALL (md.days)) AS interruptions_no_med,
               count(*) FILTER (WHERE p.begins AND p.momentary) AS momentary_events,
               coalesce(sum(p.minutes) FILTER (WHERE NOT p.momentary), 0) AS customer_minutes,
               coalesce(sum(p.minutes) FILTER (WHERE NOT p.momentary AND NOT p.planned), 0)
                   AS customer_minutes_unplanned,
               coalesce(sum(p.minutes) FILTER (WHERE NOT p.momentary
                                                 AND p.day <> ALL (md.days)), 0)
                   AS customer_minutes_no_med
        FROM pieces p CROSS JOIN med_days md
        GROUP BY GROUPING SETS ((p.group_key, p.bucket), (p.group_key))
    ), per_customer AS (
        -- sustained interruptions that began, per customer (CAIFI's and CEMIn's counts)
        SELECT p.group_key, p.customer_id, p.bucket, GROUPING(p.bucket) = 1 AS whole,
               count(*) AS n
        FROM pieces p WHERE p.begins AND NOT p.momentary
        GROUP BY GROUPING SETS ((p.group_key, p.customer_id, p.bucket),
                                (p.group_key, p.customer_id))
    ), interrupted AS (
        SELECT c.group_key, c.bucket, c.whole, count(*) AS customers,
               count(*) FILTER (WHERE c.n >= p_cemi_n) AS cemi
        FROM per_customer c GROUP BY 1, 2, 3
    ), buckets AS (
        SELECT d.bucket, min(d.day_start) AS b_start, max(d.day_end) AS b_end
        FROM days d GROUP BY d.bucket
    ), spans AS (
        -- the whole period and every bucket, with its bounds
        SELECT NULL::date AS bucket, true AS whole, p_start AS b_start, p_end AS b_end
        UNION ALL
        SELECT b.bucket, false, b.b_start, b.b_end FROM buckets b
    ), since_counts AS (
        -- customers served per group by the time they count from: one row per group for
        -- those there from the start, one per customer connected in the period
        SELECT s.group_key, s.since, count(*) AS n FROM served s GROUP BY 1, 2
    ), served_spans AS (
        SELECT c.group_key, sp.bucket, sp.whole, sp.b_start, sp.b_end,
               sum(c.n * CASE WHEN c.since <= sp.b_start THEN 1.0
                              ELSE extract(epoch FROM sp.b_end - c.since)::float8
                                   / extract(epoch FROM sp.b_end - sp.b_start)::float8
                         END) AS n
        FROM since_counts c JOIN spans sp ON c.since < sp.b_end
        GROUP BY 1, 2, 3, 4, 5
    )
    SELECT s.bucket, s.group_key, s.n::float8,
           extract(epoch FROM s.b_end - s.b_start)::float8 / 60,
           coalesce(g.interruptions, 0), coalesce(g.interruptions_unplanned, 0),
           coalesce(g.customer_minutes, 0), coalesce(g.customer_minutes_unplanned, 0),
           coalesce(c.customers, 0), coalesce(g.momentary_events, 0), coalesce(c.cemi, 0),
           coalesce(g.interruptions_no_med, 0), coalesce(g.customer_minutes_no_med, 0),
           (SELECT t_med FROM med), (SELECT days FROM med_days)
    FROM served_spans s
    LEFT JOIN sums g ON g.group_key = s.group_key AND g.whole = s.whole
                    AND g.bucket IS NOT DISTINCT FROM s.bucket
    LEFT JOIN interrupted c ON c.group_key = s.group_key AND c.whole = s.whole
                           AND c.bucket IS NOT DISTINCT FROM s.bucket
    ORDER BY s.bucket NULLS FIRST, s.group_key;
END
$$;

-- The customers interrupted most often in [p_start, p_end) (sustained interruptions that
-- began in the period, then their minutes inside it): CEMIn's worst served.
CREATE FUNCTION reliability_worst_customers(p_start timestamptz, p_end timestamptz,
                                            p_momentary interval, p_limit integer,
                                            p_lookback interval DEFAULT interval '7 days')
RETURNS TABLE (customer_id text, feeder_id text, area text, interruptions bigint,
               minutes float8)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '128MB' AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.customer_id, s.feeder_id, s.area,
           count(*) FILTER (WHERE i.started_at >= s.since),
           sum(extract(epoch FROM least(coalesce(i.ended_at, now()), p_end)
                                  - greatest(i.started_at, s.since)) / 60)::float8
    FROM supply_interruptions(p_start, p_end, p_lookback) i
    JOIN reliability_customers(p_start, p_end) s ON s.device_id = i.device_id
    WHERE coalesce(i.ended_at, now()) - i.started_at >= p_momentary
      AND coalesce(i.ended_at, now()) > s.since
    GROUP BY 1, 2, 3
    ORDER BY 4 DESC, 5 DESC, 1
    LIMIT p_limit;
END
$$;
