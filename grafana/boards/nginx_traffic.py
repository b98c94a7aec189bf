"""nginx traffic: access and error logs in Elasticsearch (logs-nginx-*)."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    COUNT,
    ES_NGINX,
    LUCENE_SCOPE,
    dashboard,
    es,
    es_table,
    fixed_color,
    histogram,
    logs,
    terms,
    timeseries,
)


def board() -> dict[str, Any]:
    """Requests by status class, latency percentiles, top paths and clients, error log."""
    access = f"type:access AND {LUCENE_SCOPE}"
    errors = f"type:error AND {LUCENE_SCOPE}"
    status_colors = [
        fixed_color("2xx", "green"),
        fixed_color("3xx", "blue"),
        fixed_color("4xx", "orange"),
        fixed_color("5xx", "red"),
    ]
    percentiles = {
        "field": "request_time",
        "id": "1",
        "settings": {"percents": ["50", "95", "99"]},
        "type": "percentiles",
    }
    panels = [
        timeseries(
            "Requests by status class",
            [es(ES_NGINX, access, [COUNT], [terms("status_class", order_by="_key"), histogram()])],
            unit="short",
            bars=True,
            stack=True,
            overrides=status_colors,
            description="Access log entries per interval, stacked by status class.",
        ),
        timeseries(
            "Latency percentiles",
            [es(ES_NGINX, access, [percentiles], [histogram("2")])],
            unit="s",
            minimum=0,
            description="request_time p50 / p95 / p99 of the access log entries.",
        ),
        es_table(
            "Top paths",
            es(ES_NGINX, access, [COUNT], [terms("path", size=15)]),
            description="Most requested paths (with their query string).",
        ),
        es_table(
            "Top clients",
            es(
                ES_NGINX,
                access,
                [COUNT, {"field": "bytes", "id": "3", "type": "sum"}],
                [terms("client_ip", size=15)],
            ),
            description="Client addresses with the most requests, and the bytes sent to them.",
        ),
        timeseries(
            "Error log entries by category",
            [es(ES_NGINX, errors, [COUNT], [terms("category"), histogram()])],
            unit="short",
            bars=True,
            stack=True,
            description="nginx error log entries, by the category Lookout assigns.",
            size=(24, 7),
        ),
        logs(
            "nginx error log",
            ES_NGINX,
            errors,
            description="The newest nginx error log entries (message, level, category).",
        ),
    ]
    return dashboard(
        "lookout-nginx",
        "Lookout / nginx traffic",
        "nginx access and error logs in Elasticsearch (logs-nginx-*).",
        panels,
    )
