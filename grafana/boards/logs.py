"""Logs: volume by level and service, top and new patterns, the newest lines (logs-*)."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    COUNT,
    ES_APP,
    ES_NGINX,
    LUCENE_SCOPE,
    app_log_levels,
    dashboard,
    es,
    es_table,
    histogram,
    logs,
    terms,
    timeseries,
)

FIRST_SEEN = {"id": "4", "type": "min", "field": "@timestamp"}


def board() -> dict[str, Any]:
    """Log volume, error share, patterns and a logs panel of the chosen services and hosts."""
    panels = [
        app_log_levels(
            "Application log volume by level",
            "Application log records per interval by level (logs-app-*).",
        ),
        timeseries(
            "Application log volume by service",
            [es(ES_APP, LUCENE_SCOPE, [COUNT], [terms("service", size=10), histogram()])],
            unit="short",
            bars=True,
            stack=True,
            description="Records per interval of the 10 busiest services.",
        ),
        timeseries(
            "nginx error-log entries by level",
            [
                es(
                    ES_NGINX,
                    f"type:error AND {LUCENE_SCOPE}",
                    [COUNT],
                    [terms("level", order_by="_key"), histogram()],
                )
            ],
            unit="short",
            bars=True,
            stack=True,
            description="nginx error-log entries per interval by level (logs-nginx-*).",
        ),
        es_table(
            "Top patterns",
            es(ES_APP, LUCENE_SCOPE, [COUNT], [terms("pattern_id", size=15)]),
            description="Message templates (pattern_id, added by the pattern miner) with the "
            "most lines in the range.",
        ),
        es_table(
            "New patterns",
            es(
                ES_APP,
                LUCENE_SCOPE,
                [COUNT, FIRST_SEEN],
                [terms("pattern_id", size=15, order_by=FIRST_SEEN["id"])],
            ),
            description="Patterns by their first line in the range, newest first (a pattern "
            "seen before the range also counts as new here).",
        ),
        logs(
            "Logs",
            ES_APP,
            LUCENE_SCOPE,
            description="The newest application log lines of the chosen services and hosts "
            "(search, filters and a live tail: the live page's Logs view).",
        ),
    ]
    return dashboard(
        "lookout-logs",
        "Lookout / Logs",
        "Log volume by level and service, top and new patterns, the newest lines (logs-*).",
        panels,
    )
