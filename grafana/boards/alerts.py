"""Alerts and incidents: firing now, transitions, MTTA/MTTR, notifications."""

from __future__ import annotations

from typing import Any

from grafana.panels import dashboard, fixed_color, sql, stat, table, timeseries

LABEL_SCOPE = (
    "(labels ->> 'host' IS NULL OR labels ->> 'host' IN (${host:sqlstring}))"
    " AND (labels ->> 'service' IS NULL OR labels ->> 'service' IN (${service:sqlstring}))"
)
INCIDENT_SCOPE = (
    "(host IS NULL OR host IN (${host:sqlstring}))"
    " AND (service IS NULL OR service IN (${service:sqlstring}))"
)


def board() -> dict[str, Any]:
    """Firing alerts, transitions, MTTA/MTTR and notifications."""
    states = [
        fixed_color("pending", "yellow"),
        fixed_color("firing", "red"),
        fixed_color("resolved", "green"),
    ]
    panels = [
        stat(
            "Firing now",
            f"""
SELECT count(*) AS firing, count(*) FILTER (WHERE acknowledged_at IS NULL) AS unacknowledged
FROM incidents
WHERE status <> 'resolved' AND {INCIDENT_SCOPE}
""",
            [("firing", "Firing", "short"), ("unacknowledged", "Not acknowledged", "short")],
            description="Open incidents (firing alerts), whatever the time range.",
        ),
        stat(
            "MTTA / MTTR",
            f"""
SELECT avg(extract(epoch FROM acknowledged_at - opened_at)) AS mtta_seconds,
       avg(extract(epoch FROM resolved_at - opened_at)) AS mttr_seconds,
       count(*) AS incidents
FROM incidents
WHERE $__timeFilter(opened_at) AND {INCIDENT_SCOPE}
""",
            [
                ("mtta_seconds", "MTTA", "s"),
                ("mttr_seconds", "MTTR", "s"),
                ("incidents", "Incidents", "short"),
            ],
            description="Mean time to acknowledge / resolve the incidents opened in the range.",
            size=(18, 4),
        ),
        table(
            "Currently firing",
            f"""
SELECT opened_at, rule, severity, host, service, status, acknowledged_by,
       extract(epoch FROM now() - opened_at) AS firing_for, summary
FROM incidents
WHERE status <> 'resolved' AND {INCIDENT_SCOPE}
ORDER BY opened_at DESC
""",
            [
                ("opened_at", "Since", "dateTimeAsIso"),
                ("rule", "Rule", None),
                ("severity", "Severity", None),
                ("host", "Host", None),
                ("service", "Service", None),
                ("status", "Status", None),
                ("acknowledged_by", "Acknowledged by", None),
                ("firing_for", "Firing for", "s"),
                ("summary", "Summary", None),
            ],
            size=(24, 7),
        ),
        timeseries(
            "Transitions",
            [
                sql(
                    f"""
SELECT $__timeGroupAlias(event_time, $__interval), to_state AS metric, count(*) AS value
FROM alert_history
WHERE $__timeFilter(event_time) AND {LABEL_SCOPE}
GROUP BY 1, 2
ORDER BY 1, 2
"""
                )
            ],
            unit="short",
            bars=True,
            stack=True,
            overrides=states,
            description="Alert state transitions per interval, by the state entered.",
        ),
        table(
            "Transition log",
            f"""
SELECT event_time, rule, labels ->> 'host' AS host, labels ->> 'service' AS service,
       from_state, to_state, value
FROM alert_history
WHERE $__timeFilter(event_time) AND {LABEL_SCOPE}
ORDER BY event_time DESC
LIMIT 500
""",
            [
                ("event_time", "Time", "dateTimeAsIso"),
                ("rule", "Rule", None),
                ("host", "Host", None),
                ("service", "Service", None),
                ("from_state", "From", None),
                ("to_state", "To", None),
                ("value", "Value", "short"),
            ],
        ),
        table(
            "MTTA / MTTR by team and application (all time)",
            """
SELECT team, application, incidents, open_incidents, acknowledged, resolved,
       mtta_seconds, mttr_seconds, last_opened_at
FROM v_incident_mtta_mttr
WHERE application IN (${service:sqlstring}) OR application NOT IN (SELECT service FROM applications)
ORDER BY incidents DESC, team, application
""",
            [
                ("team", "Team", None),
                ("application", "Application", None),
                ("incidents", "Incidents", "short"),
                ("open_incidents", "Open", "short"),
                ("acknowledged", "Acknowledged", "short"),
                ("resolved", "Resolved", "short"),
                ("mtta_seconds", "MTTA", "s"),
                ("mttr_seconds", "MTTR", "s"),
                ("last_opened_at", "Last incident", "dateTimeAsIso"),
            ],
            description="v_incident_mtta_mttr: the host's primary team, else the app's owner.",
            size=(24, 7),
        ),
        timeseries(
            "Notifications",
            [
                sql(
                    """
SELECT $__timeGroupAlias(created_at, $__interval), status AS metric, count(*) AS value
FROM notifications
WHERE $__timeFilter(created_at)
GROUP BY 1, 2
ORDER BY 1, 2
"""
                )
            ],
            unit="short",
            bars=True,
            stack=True,
            overrides=[
                fixed_color("sent", "green"),
                fixed_color("failed", "red"),
                fixed_color("pending", "yellow"),
                fixed_color("suppressed", "blue"),
            ],
            description="Notification outbox rows created per interval, by status.",
        ),
        table(
            "Notifications by receiver",
            """
SELECT receiver,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'suppressed') AS suppressed,
       max(attempts) AS max_attempts,
       (array_agg(last_error ORDER BY created_at DESC)
            FILTER (WHERE last_error IS NOT NULL))[1] AS last_error
FROM notifications
WHERE $__timeFilter(created_at)
GROUP BY receiver
ORDER BY failed DESC, receiver
""",
            [
                ("receiver", "Receiver", None),
                ("sent", "Sent", "short"),
                ("failed", "Failed", "short"),
                ("pending", "Pending", "short"),
                ("suppressed", "Suppressed", "short"),
                ("max_attempts", "Most attempts", "short"),
                ("last_error", "Last error", None),
            ],
        ),
    ]
    return dashboard(
        "lookout-alerts",
        "Lookout / Alerts and incidents",
        "Alert transitions (alert_history), incidents and the notification outbox.",
        panels,
    )
