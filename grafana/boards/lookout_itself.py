"""Lookout itself: the workers' own metrics in Prometheus (infra/prometheus, job ``lookout``).

Every query reads a metric family that docs/OPERATING.md documents;
tests/integration/test_prometheus.py runs each one against a real Prometheus scraping a worker.
"""

from __future__ import annotations

from typing import Any

from grafana.panels import INSTANCE_VARIABLE, dashboard, promql, row, timeseries

WORKERS = 'instance=~"$instance"'
RATE = "$__rate_interval"


def _quantiles(bucket: str, by: str = "") -> list[dict[str, Any]]:
    """p50 / p90 / p99 of a histogram's buckets over the selected workers."""
    group = f"{by}, le" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        promql(
            f"histogram_quantile({q}, sum by ({group}) (rate({bucket}{{{WORKERS}}}[{RATE}])))",
            f"{prefix}p{round(q * 100)}",
            ref=ref,
        )
        for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]


def _per_second(
    title: str, counter: str, by: str, legend: str, description: str, *, stack: bool = False
) -> dict[str, Any]:
    """A panel of a counter's rate per second, summed by ``by`` over the selected workers."""
    expr = f"sum by ({by}) (rate({counter}{{{WORKERS}}}[{RATE}]))"
    return timeseries(
        title, [promql(expr, legend)], unit="short", stack=stack, description=description
    )


def board() -> dict[str, Any]:
    """Throughput, lag, event-time delay, batch times, sinks, notifications, memory."""
    panels = [
        row("Keeping up"),
        _per_second(
            "Records in per second",
            "lookout_records_in_total",
            "topic",
            "{{topic}}",
            "Input records applied to window state, by topic (all selected workers).",
            stack=True,
        ),
        timeseries(
            "Input lag per partition",
            [promql(f"lookout_input_lag{{{WORKERS}}}", "{{topic}}[{{partition}}]")],
            unit="short",
            minimum=0,
            description="High watermark minus the next offset to apply, read every 5 s. "
            "It should stay near 0; on the embedded broker it reads slightly low.",
        ),
        timeseries(
            "Event-time delay",
            [
                promql(f"lookout_event_time_delay_seconds{{{WORKERS}}}", "{{instance}}"),
                promql(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(lookout_batch_event_delay_seconds_bucket{{{WORKERS}}}[{RATE}])))",
                    "batches p99",
                    ref="B",
                ),
            ],
            unit="s",
            minimum=0,
            description="Wall clock minus the slowest live host's watermark: how late the "
            "windows (and the alerts on them) are. Includes the producers' own delay.",
        ),
        _per_second(
            "Dead letters per second",
            "lookout_deadletter_total",
            "reason",
            "{{reason}}",
            "Input sent to lookout.deadletter, by reason.",
            stack=True,
        ),
        row("Batches"),
        timeseries(
            "Batch processing time",
            _quantiles("lookout_batch_seconds_bucket"),
            unit="s",
            minimum=0,
            description="Seconds per ingest batch (decode, windows, alert rules, durable flush).",
        ),
        timeseries(
            "Messages per batch",
            [
                promql(
                    f"sum(rate(lookout_batch_messages_sum{{{WORKERS}}}[{RATE}])) "
                    f"/ sum(rate(lookout_batch_messages_count{{{WORKERS}}}[{RATE}]))",
                    "mean",
                )
            ],
            unit="short",
            minimum=0,
            description="Mean messages per ingest batch: small batches under load mean the "
            "worker waits on the broker, full ones that it is CPU bound.",
        ),
        _per_second(
            "Final windows per second",
            "lookout_window_finals_total",
            "kind",
            "{{kind}}",
            "Final window records emitted to lookout.windows, by window kind.",
        ),
        _per_second(
            "Alert transitions per second",
            "lookout_alert_transitions_total",
            "rule, to",
            "{{rule}} → {{to}}",
            "Alert state transitions by rule and target state.",
        ),
        row("Sinks and notifications"),
        timeseries(
            "Sinks up and lag",
            [
                promql(f"lookout_sink_up{{{WORKERS}}}", "{{sink}} up"),
                promql(f"lookout_sink_lag{{{WORKERS}}}", "{{sink}} lag", ref="B"),
            ],
            unit="short",
            minimum=0,
            description="1 while a sink's last write succeeded; messages it has not stored yet.",
        ),
        timeseries(
            "Sink write time",
            _quantiles("lookout_sink_write_seconds_bucket", "sink"),
            unit="s",
            minimum=0,
            description="Seconds per store write attempt, by sink.",
        ),
        _per_second(
            "Notifications per second",
            "lookout_notifications_total",
            "receiver, outcome",
            "{{receiver}} {{outcome}}",
            "Delivery attempts by receiver and outcome (sent, retry, failed, postponed).",
        ),
        timeseries(
            "Notification delivery time",
            _quantiles("lookout_notify_delivery_seconds_bucket", "receiver"),
            unit="s",
            minimum=0,
            description="Seconds per delivery attempt (Slack, SMTP), by receiver.",
        ),
        row("Process"),
        timeseries(
            "Resident memory",
            [promql(f'process_resident_memory_bytes{{job="lookout", {WORKERS}}}', "{{instance}}")],
            unit="bytes",
            minimum=0,
            description="Resident set size per worker.",
        ),
        timeseries(
            "CPU",
            [
                promql(
                    f'rate(process_cpu_seconds_total{{job="lookout", {WORKERS}}}[{RATE}])',
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            minimum=0,
            description="CPU seconds per second per worker (1 = one core).",
        ),
        timeseries(
            "Workers up",
            [promql(f'up{{job="lookout", {WORKERS}}}', "{{instance}}")],
            unit="short",
            minimum=0,
            maximum=1,
            description="1 while Prometheus can scrape the worker.",
        ),
        timeseries(
            "Recovery",
            [
                promql(f"lookout_recovery_remaining_records{{{WORKERS}}}", "{{instance}}"),
            ],
            unit="short",
            minimum=0,
            description="Changelog records a worker still has to recover after a rebalance.",
        ),
    ]
    return dashboard(
        "lookout-itself",
        "Lookout / Lookout itself",
        "Is Lookout keeping up? The workers' own metrics in Prometheus (job lookout).",
        panels,
        refresh="30s",
        time_from="now-3h",
        variables=[INSTANCE_VARIABLE],
    )
