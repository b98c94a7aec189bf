"""SLA and business: uptime per server and team, incidents per application, cost."""

from __future__ import annotations

from typing import Any

from grafana.panels import DAYS, HOSTS, P95_BAND, dashboard, sql, table, timeseries


def board() -> dict[str, Any]:
    """Uptime per server and team, incidents per application, cost against resource use."""
    days = DAYS.format(day="day")
    panels = [
        table(
            "Uptime per server",
            f"""
SELECT host, coalesce(application, '(none)') AS application,
       100 * sum(uptime_seconds) / nullif(sum(observed_seconds), 0) AS uptime_pct,
       min(sla_target_pct) AS sla_target_pct,
       sum(downtime_seconds) AS downtime_seconds,
       sum(downtime_events) AS downtime_events,
       count(*) FILTER (WHERE NOT sla_met) AS days_below_sla
FROM v_daily_uptime
WHERE {days} AND {HOSTS}
GROUP BY host, application
ORDER BY uptime_pct, host
""",
            [
                ("host", "Server", None),
                ("application", "Application", None),
                ("uptime_pct", "Uptime", "percent"),
                ("sla_target_pct", "SLA target", "percent"),
                ("downtime_seconds", "Downtime", "s"),
                ("downtime_events", "Outages", "short"),
                ("days_below_sla", "Days below SLA", "short"),
            ],
            description="v_daily_uptime over the UTC days of the range (downtime_logs).",
        ),
        table(
            "Uptime per team",
            f"""
SELECT t.name AS team, count(DISTINCT u.host) AS servers,
       100 * sum(u.uptime_seconds) / nullif(sum(u.observed_seconds), 0) AS uptime_pct,
       sum(u.downtime_seconds) AS downtime_seconds,
       sum(u.downtime_events) AS downtime_events
FROM v_daily_uptime AS u
JOIN team_server_assignment AS a ON a.host = u.host AND a.role = 'primary'
JOIN team_management AS t ON t.team_id = a.team_id
WHERE {DAYS.format(day="u.day")} AND u.host IN (${{host:sqlstring}})
GROUP BY t.name
ORDER BY uptime_pct, team
""",
            [
                ("team", "Team", None),
                ("servers", "Servers", "short"),
                ("uptime_pct", "Uptime", "percent"),
                ("downtime_seconds", "Downtime", "s"),
                ("downtime_events", "Outages", "short"),
            ],
            description="Servers by their primary team (team_server_assignment).",
        ),
        timeseries(
            "Daily uptime per server",
            [
                sql(
                    f"""
SELECT (day::timestamp AT TIME ZONE 'UTC') AS time, host AS metric, uptime_pct AS value
FROM v_daily_uptime
WHERE {days} AND {HOSTS}
ORDER BY 1, 2
"""
                )
            ],
            unit="percent",
            maximum=100,
            description="Uptime % of each UTC day (today: so far).",
        ),
        table(
            "Incidents per application",
            """
SELECT coalesce(i.service, s.application, '(unknown)') AS application,
       count(*) AS incidents,
       count(*) FILTER (WHERE i.severity = 'critical') AS critical,
       count(*) FILTER (WHERE i.resolved_at IS NULL) AS open,
       avg(extract(epoch FROM i.acknowledged_at - i.opened_at)) AS mtta_seconds,
       avg(extract(epoch FROM i.resolved_at - i.opened_at)) AS mttr_seconds
FROM incidents AS i
LEFT JOIN servers AS s ON s.host = i.host
WHERE $__timeFilter(i.opened_at)
  AND coalesce(i.service, s.application, '(unknown)') IN (${service:sqlstring}, '(unknown)')
GROUP BY 1
ORDER BY incidents DESC, application
""",
            [
                ("application", "Application", None),
                ("incidents", "Incidents", "short"),
                ("critical", "Critical", "short"),
                ("open", "Open", "short"),
                ("mtta_seconds", "MTTA", "s"),
                ("mttr_seconds", "MTTR", "s"),
            ],
            description="Incidents opened in the range: their service, else their host's app.",
        ),
        table(
            "Cost against resource use",
            f"""
SELECT application, application_name, sum(cost) AS cost, min(currency) AS currency,
       avg(allocated_cpu_cores) AS allocated_cpu_cores, avg(used_cpu_cores) AS used_cpu_cores,
       avg(cpu_utilisation_pct) AS cpu_utilisation_pct,
       avg(memory_utilisation_pct) AS memory_utilisation_pct,
       avg(cost_per_used_core) AS cost_per_used_core
FROM v_cost_vs_usage
WHERE {days} AND application IN (${{service:sqlstring}})
GROUP BY application, application_name
ORDER BY cost DESC, application
""",
            [
                ("application", "Application", None),
                ("application_name", "Name", None),
                ("cost", "Cost", "currencyUSD"),
                ("currency", "Currency", None),
                ("allocated_cpu_cores", "Cores allocated", "short"),
                ("used_cpu_cores", "Cores used", "short"),
                ("cpu_utilisation_pct", "CPU used", "percent"),
                ("memory_utilisation_pct", "Memory used", "percent"),
                ("cost_per_used_core", "Cost per used core-day", "currencyUSD"),
            ],
            description="v_cost_vs_usage: cost of the range; usage on days with metrics.",
            size=(24, 7),
        ),
        timeseries(
            "Daily cost per application",
            [
                sql(
                    f"""
SELECT (day::timestamp AT TIME ZONE 'UTC') AS time, application AS metric, cost AS value
FROM v_cost_vs_usage
WHERE {days} AND application IN (${{service:sqlstring}})
ORDER BY 1, 2
"""
                )
            ],
            unit="currencyUSD",
            bars=True,
            stack=True,
            minimum=0,
        ),
        timeseries(
            "CPU cores allocated and used",
            [
                sql(
                    f"""
SELECT (day::timestamp AT TIME ZONE 'UTC') AS time, application || ' allocated' AS metric,
       allocated_cpu_cores AS value
FROM v_cost_vs_usage
WHERE {days} AND application IN (${{service:sqlstring}})
ORDER BY 1, 2
"""
                ),
                sql(
                    f"""
SELECT (day::timestamp AT TIME ZONE 'UTC') AS time, application || ' used' AS metric,
       used_cpu_cores AS value
FROM v_cost_vs_usage
WHERE {days} AND application IN (${{service:sqlstring}}) AND used_cpu_cores IS NOT NULL
ORDER BY 1, 2
""",
                    ref="B",
                ),
            ],
            unit="short",
            minimum=0,
            overrides=[P95_BAND],
            description="Allocated cores (solid) and cores in use (dashed) per application.",
        ),
    ]
    return dashboard(
        "lookout-sla",
        "Lookout / SLA and business",
        "Uptime against SLA, incidents per application, cost against resource use (UTC days).",
        panels,
        time_from="now-30d",
        refresh="5m",
        timezone="utc",
    )
