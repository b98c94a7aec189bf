-- 0003_views: BI views over the pipeline tables and the business catalogue.
-- Days and hours are UTC. "Now" is the transaction's now(): open downtime counts up to it and
-- today's row covers only the part of the day that has passed.

-- Uptime per server per UTC day. Downtime intervals are clipped at the day's boundaries and
-- overlapping intervals of one host are merged (multirange), so two rules reporting the same
-- outage are not counted twice. One row per day from the server's commissioning (or its first
-- recorded downtime) to today; a day without downtime is 100 %.
CREATE VIEW v_daily_uptime AS
WITH spans AS (
    SELECT host, commissioned_at AS since, coalesce(decommissioned_at, now()) AS until
    FROM servers
    UNION ALL
    SELECT host, min(down_at), now()
    FROM downtime_logs
    GROUP BY host
),
hosts AS (
    SELECT host, min(since) AS since, max(until) AS until
    FROM spans
    GROUP BY host
),
days AS (
    SELECT h.host,
           d::date AS day,
           d AT TIME ZONE 'UTC' AS day_start,
           least((d + interval '1 day') AT TIME ZONE 'UTC', h.until) AS day_end
    FROM hosts AS h
    CROSS JOIN LATERAL generate_series(
        date_trunc('day', h.since AT TIME ZONE 'UTC'),
        h.until AT TIME ZONE 'UTC',
        interval '1 day'
    ) AS d
)
SELECT d.host,
       d.day,
       s.application,
       s.location_id,
       extract(epoch FROM d.day_end - d.day_start) AS observed_seconds,
       down.seconds AS downtime_seconds,
       extract(epoch FROM d.day_end - d.day_start) - down.seconds AS uptime_seconds,
       round(100 * (1 - down.seconds / extract(epoch FROM d.day_end - d.day_start)), 4)
           AS uptime_pct,
       dt.events AS downtime_events,
       a.sla_target_pct,
       round(100 * (1 - down.seconds / extract(epoch FROM d.day_end - d.day_start)), 4)
           >= a.sla_target_pct AS sla_met
FROM days AS d
LEFT JOIN servers AS s ON s.host = d.host
LEFT JOIN applications AS a ON a.service = s.application
CROSS JOIN LATERAL (
    SELECT count(*) AS events,
           range_agg(tstzrange(greatest(l.down_at, d.day_start),
                               least(coalesce(l.up_at, now()), d.day_end))) AS spans
    FROM downtime_logs AS l
    WHERE l.host = d.host
      AND l.down_at < d.day_end
      AND coalesce(l.up_at, now()) > d.day_start
) AS dt
CROSS JOIN LATERAL (
    SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) AS seconds
    FROM unnest(dt.spans) AS r
) AS down
WHERE d.day_end > d.day_start;
COMMENT ON VIEW v_daily_uptime IS 'Uptime and SLA % per server per UTC day, from downtime_logs.';

-- Mean time to acknowledge / resolve, per team and application. The team is the host's primary
-- team (team_server_assignment), else the application's owner; the application is the
-- incident's `service` label, else the application of its host.
CREATE VIEW v_incident_mtta_mttr AS
WITH located AS (
    SELECT i.*,
           coalesce(i.service, s.application) AS app,
           coalesce(tsa.team_id, a.owner_team_id) AS owner_team_id
    FROM incidents AS i
    LEFT JOIN servers AS s ON s.host = i.host
    LEFT JOIN team_server_assignment AS tsa ON tsa.host = i.host AND tsa.role = 'primary'
    LEFT JOIN applications AS a ON a.service = coalesce(i.service, s.application)
)
SELECT l.owner_team_id AS team_id,
       coalesce(t.name, '(unassigned)') AS team,
       coalesce(l.app, '(unknown)') AS application,
       count(*) AS incidents,
       count(*) FILTER (WHERE l.resolved_at IS NULL) AS open_incidents,
       count(l.acknowledged_at) AS acknowledged,
       count(l.resolved_at) AS resolved,
       avg(extract(epoch FROM l.acknowledged_at - l.opened_at)) AS mtta_seconds,
       avg(extract(epoch FROM l.resolved_at - l.opened_at)) AS mttr_seconds,
       max(extract(epoch FROM l.acknowledged_at - l.opened_at)) AS max_tta_seconds,
       max(extract(epoch FROM l.resolved_at - l.opened_at)) AS max_ttr_seconds,
       min(l.opened_at) AS first_opened_at,
       max(l.opened_at) AS last_opened_at
FROM located AS l
LEFT JOIN team_management AS t ON t.team_id = l.owner_team_id
GROUP BY l.owner_team_id, t.name, l.app;
COMMENT ON VIEW v_incident_mtta_mttr IS 'MTTA and MTTR (seconds) per team and application.';

-- Error rate per service per UTC hour and day, from tumbling windows only (hopping windows
-- overlap and would count requests several times). Rates are recomputed from the counts:
-- error_rate = 5xx / requests, client_error_rate = 4xx / requests.
CREATE VIEW v_error_rate_trend AS
SELECT g.granularity,
       date_trunc(g.granularity, e.window_start, 'UTC') AS bucket_start,
       e.service,
       count(DISTINCT e.host) AS hosts,
       sum(e.requests) AS requests,
       sum(e.s2xx) AS s2xx,
       sum(e.s3xx) AS s3xx,
       sum(e.s4xx) AS s4xx,
       sum(e.s5xx) AS s5xx,
       sum(e.error_lines) AS error_lines,
       sum(e.s5xx)::double precision / nullif(sum(e.requests), 0) AS error_rate,
       sum(e.s4xx)::double precision / nullif(sum(e.requests), 0) AS client_error_rate,
       max(e.latency_p95) AS max_latency_p95,
       max(e.latency_p99) AS max_latency_p99,
       sum(e.bytes) AS bytes
FROM error_rates AS e
CROSS JOIN (VALUES ('hour'), ('day')) AS g (granularity)
WHERE e.window_kind = 'tumbling'
GROUP BY g.granularity, date_trunc(g.granularity, e.window_start, 'UTC'), e.service;
COMMENT ON VIEW v_error_rate_trend IS 'Hourly and daily error rate per service (granularity column).';

-- Daily cost per application against the capacity allocated to it and the part of that capacity
-- used (CPU usage_active of cpu-total and mem used_percent, means of the day's tumbling windows
-- weighted by point count). Used cores = allocated cores x CPU %; servers without metrics that
-- day are left out of the utilisation figures.
CREATE VIEW v_cost_vs_usage AS
WITH cost AS (
    SELECT application, cost_date AS day, sum(amount) AS cost, min(currency) AS currency
    FROM cost_data
    GROUP BY application, cost_date
),
usage AS (
    SELECT c.application, c.day, ra.host, ra.cpu_cores, ra.memory_gb, u.cpu_pct, u.mem_pct
    FROM cost AS c
    JOIN resource_allocation AS ra
      ON ra.application = c.application
     AND ra.valid_from <= c.day
     AND (ra.valid_to IS NULL OR ra.valid_to >= c.day)
    CROSS JOIN LATERAL (
        SELECT sum(m.sum) FILTER (WHERE m.measurement = 'cpu')
                   / nullif(sum(m.count) FILTER (WHERE m.measurement = 'cpu'), 0) AS cpu_pct,
               sum(m.sum) FILTER (WHERE m.measurement = 'mem')
                   / nullif(sum(m.count) FILTER (WHERE m.measurement = 'mem'), 0) AS mem_pct
        FROM aggregated_metrics AS m
        WHERE m.host = ra.host
          AND m.window_kind = 'tumbling'
          AND m.window_start >= c.day::timestamp AT TIME ZONE 'UTC'
          AND m.window_start < (c.day + 1)::timestamp AT TIME ZONE 'UTC'
          AND ((m.measurement = 'cpu' AND m.field = 'usage_active'
                AND coalesce(m.tags ->> 'cpu', 'cpu-total') = 'cpu-total')
               OR (m.measurement = 'mem' AND m.field = 'used_percent'))
    ) AS u
)
SELECT c.application,
       a.name AS application_name,
       c.day,
       c.cost,
       c.currency,
       count(u.host) AS servers,
       sum(u.cpu_cores) AS allocated_cpu_cores,
       sum(u.cpu_cores * u.cpu_pct / 100) AS used_cpu_cores,
       100 * sum(u.cpu_cores * u.cpu_pct / 100)
           / nullif(sum(u.cpu_cores) FILTER (WHERE u.cpu_pct IS NOT NULL), 0)
           AS cpu_utilisation_pct,
       sum(u.memory_gb) AS allocated_memory_gb,
       sum(u.memory_gb * u.mem_pct / 100) AS used_memory_gb,
       100 * sum(u.memory_gb * u.mem_pct / 100)
           / nullif(sum(u.memory_gb) FILTER (WHERE u.mem_pct IS NOT NULL), 0)
           AS memory_utilisation_pct,
       c.cost / nullif(sum(u.cpu_cores), 0) AS cost_per_allocated_core,
       c.cost / nullif(sum(u.cpu_cores * u.cpu_pct / 100), 0) AS cost_per_used_core
FROM cost AS c
LEFT JOIN applications AS a ON a.service = c.application
LEFT JOIN usage AS u ON u.application = c.application AND u.day = c.day
GROUP BY c.application, a.name, c.day, c.cost, c.currency;
COMMENT ON VIEW v_cost_vs_usage IS 'Daily cost per application vs allocated and used CPU/memory.';
