"""Error rates and latency per service (error_rates, v_error_rate_trend, logs-app-*)."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    ES_APP,
    HOSTS,
    LUCENE_SCOPE,
    P95_BAND,
    SERVICES,
    alert_annotation,
    app_log_levels,
    dashboard,
    logs,
    sql,
    table,
    timeseries,
)


def service_series(value: str, *, metric: str = "service", ref: str = "A") -> dict[str, Any]:
    """Closed tumbling log windows of the chosen services and hosts, one series per service."""
    return sql(
        f"""
SELECT $__timeGroupAlias(window_start, $__interval), {metric} AS metric, {value} AS value
FROM error_rates
WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
  AND {SERVICES} AND {HOSTS}
GROUP BY 1, 2
ORDER BY 1, 2
""",
        ref=ref,
    )


def board() -> dict[str, Any]:
    """5xx and 4xx rates, request rate and latency percentiles per service."""
    panels = [
        timeseries(
            "5xx error rate",
            [service_series("sum(s5xx)::float8 / nullif(sum(requests), 0)")],
            unit="percentunit",
            minimum=0,
            description="5xx responses / requests, all chosen hosts of the service together.",
        ),
        timeseries(
            "4xx client error rate",
            [service_series("sum(s4xx)::float8 / nullif(sum(requests), 0)")],
            unit="percentunit",
            minimum=0,
            description="4xx responses / requests.",
        ),
        timeseries(
            "Requests per second",
            [
                service_series(
                    "sum(requests / extract(epoch FROM window_end - window_start))"
                    " / count(DISTINCT window_start)"
                )
            ],
            unit="reqps",
            minimum=0,
            description="Request rate of each service (its hosts together).",
        ),
        timeseries(
            "Latency p50 / p95 / p99",
            [
                service_series("avg(latency_p50)", metric="service || ' p50'"),
                service_series("max(latency_p95)", metric="service || ' p95'", ref="B"),
                service_series("max(latency_p99)", metric="service || ' p99'", ref="C"),
            ],
            unit="s",
            minimum=0,
            overrides=[P95_BAND, {**P95_BAND, "matcher": {"id": "byFrameRefID", "options": "C"}}],
            description="Window latency percentiles: p50 averaged, p95 and p99 at their highest.",
        ),
        table(
            "By service and host",
            f"""
SELECT service, host, sum(requests) AS requests, sum(s4xx) AS s4xx, sum(s5xx) AS s5xx,
       sum(s5xx)::float8 / nullif(sum(requests), 0) AS error_rate,
       max(latency_p95) AS latency_p95, sum(error_lines) AS error_lines, sum(bytes) AS bytes
FROM error_rates
WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
  AND {SERVICES} AND {HOSTS}
GROUP BY service, host
ORDER BY error_rate DESC NULLS LAST, service, host
""",
            [
                ("service", "Service", None),
                ("host", "Host", None),
                ("requests", "Requests", "short"),
                ("s4xx", "4xx", "short"),
                ("s5xx", "5xx", "short"),
                ("error_rate", "5xx rate", "percentunit"),
                ("latency_p95", "Highest p95", "s"),
                ("error_lines", "Error log lines", "short"),
                ("bytes", "Bytes sent", "bytes"),
            ],
            size=(24, 7),
        ),
        timeseries(
            "Hourly 5xx rate (v_error_rate_trend)",
            [
                sql(
                    f"""
SELECT bucket_start AS time, service AS metric, error_rate AS value
FROM v_error_rate_trend
WHERE granularity = 'hour'
  AND bucket_start > $__timeFrom()::timestamptz - interval '1 hour'
  AND bucket_start <= $__timeTo()::timestamptz
  AND {SERVICES}
ORDER BY 1, 2
"""
                )
            ],
            unit="percentunit",
            bars=True,
            minimum=0,
            description="5xx / requests per UTC hour (every host of the service).",
        ),
        app_log_levels(
            "Application log levels",
            "Application log records per interval by level (logs-app-*).",
        ),
        logs(
            "Application errors",
            ES_APP,
            f"level:error AND {LUCENE_SCOPE}",
            description="The newest error records of the chosen services' application logs.",
        ),
    ]
    return dashboard(
        "lookout-errors",
        "Lookout / Error rates and latency",
        "Closed 1-minute log windows per service and host (error_rates), application logs.",
        panels,
        annotations=[alert_annotation()],
    )
