"""Server health: host metrics as closed 1-minute windows (aggregated_metrics)."""

from __future__ import annotations

from typing import Any

from grafana.panels import HOSTS, P95_BAND, alert_annotation, dashboard, row, sql, table, timeseries


def window_series(
    value: str, where: str, *, metric: str = "host", ref: str = "A"
) -> dict[str, Any]:
    """Closed tumbling windows of the chosen hosts, one series per ``metric`` value."""
    return sql(
        f"""
SELECT $__timeGroupAlias(window_start, $__interval), {metric} AS metric, {value} AS value
FROM aggregated_metrics
WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
  AND {where}
  AND {HOSTS}
GROUP BY 1, 2
ORDER BY 1, 2
""",
        ref=ref,
    )


def with_p95(where: str, *, metric: str = "host", mean: str = "avg(mean)") -> list[dict[str, Any]]:
    """Mean per bucket (A) and the highest window p95 (B, drawn dashed: the p95 band)."""
    return [
        window_series(mean, where, metric=metric),
        window_series("max(p95)", where, metric=f"{metric} || ' p95'", ref="B"),
    ]


def board() -> dict[str, Any]:
    """CPU, memory, disk, disk I/O, network, load and uptime per host."""
    cpu = "measurement = 'cpu' AND field = 'usage_active' AND tags ->> 'cpu' = 'cpu-total'"
    band = "Solid: mean of the 1-minute windows; dashed: their highest p95."
    panels = [
        row("CPU and memory"),
        timeseries(
            "CPU busy",
            with_p95(cpu),
            unit="percent",
            minimum=0,
            maximum=100,
            overrides=[P95_BAND],
            description="cpu-total usage_active. " + band,
        ),
        timeseries(
            "Memory used",
            with_p95("measurement = 'mem' AND field = 'used_percent'"),
            unit="percent",
            minimum=0,
            maximum=100,
            overrides=[P95_BAND],
            description="mem used_percent. " + band,
        ),
        timeseries(
            "Load average",
            [
                window_series(
                    "avg(mean)",
                    "measurement = 'system' AND field IN ('load1', 'load5', 'load15')",
                    metric="host || ' ' || field",
                )
            ],
            unit="short",
            minimum=0,
            description="system load1, load5 and load15.",
        ),
        timeseries(
            "Disk used",
            with_p95(
                "measurement = 'disk' AND field = 'used_percent'",
                metric="host || ' ' || coalesce(tags ->> 'path', '')",
            ),
            unit="percent",
            minimum=0,
            maximum=100,
            overrides=[P95_BAND],
            description="disk used_percent per mount path. " + band,
        ),
        row("Disk I/O and network (per-second rates of the counters)"),
        timeseries(
            "Disk I/O",
            with_p95(
                "measurement = 'diskio' AND field IN ('read_bytes', 'write_bytes')",
                metric="host || ' ' || coalesce(tags ->> 'name', '') || ' ' || field",
                mean="avg(rate)",
            ),
            unit="Bps",
            minimum=0,
            overrides=[P95_BAND],
            description="diskio read_bytes / write_bytes: the window rate; dashed: its p95.",
        ),
        timeseries(
            "Network",
            with_p95(
                "measurement = 'net' AND field IN ('bytes_recv', 'bytes_sent')"
                " AND coalesce(tags ->> 'interface', '') <> 'lo'",
                metric="host || ' ' || coalesce(tags ->> 'interface', '') || ' ' || field",
                mean="avg(rate)",
            ),
            unit="Bps",
            minimum=0,
            overrides=[P95_BAND],
            description="net bytes_recv / bytes_sent: the window rate; dashed: its p95.",
        ),
        row("Uptime"),
        table(
            "Uptime per host",
            f"""
SELECT DISTINCT ON (host) host, last AS uptime_seconds, window_end AS last_seen
FROM aggregated_metrics
WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
  AND measurement = 'system' AND field = 'uptime'
  AND {HOSTS}
ORDER BY host, window_start DESC
""",
            [
                ("host", "Host", None),
                ("uptime_seconds", "Uptime", "s"),
                ("last_seen", "Last window", "dateTimeAsIso"),
            ],
            description="system uptime from each host's latest closed window.",
            size=(24, 7),
        ),
    ]
    return dashboard(
        "lookout-server-health",
        "Lookout / Server health",
        "Host metrics from Telegraf, as closed 1-minute windows (aggregated_metrics).",
        panels,
        annotations=[alert_annotation()],
    )
