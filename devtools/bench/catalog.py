"""Every workload's shape: its generator, size, event-time span, topic and unit (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from app.topics import LOGS_APP, LOGS_NGINX, METRICS
from devtools.bench.nginx_lines import LINES_PER_SECOND, w3_messages, w3_seconds, w3a_messages
from devtools.bench.telegraf_inputs import METRICS_PER_INTERVAL as W1F_PER_INTERVAL
from devtools.bench.telegraf_inputs import w1f_intervals, w1f_messages
from devtools.bench.workloads import (
    BATCH_INTERVALS,
    HOSTS,
    INTERVAL,
    METRICS_PER_INTERVAL,
    W1,
    W1F,
    W2,
    W3,
    W3A,
    WORKLOADS,
    Message,
    intervals_for,
    plan_start,
    w1_messages,
    w2_messages,
)


@dataclass(frozen=True, slots=True)
class Shape:
    """How a workload is counted and where it goes."""

    title: str  # column heading of the figures table
    unit: str  # what a record is: "metrics" or "lines"
    suffix: str  # of its JSON rate keys: eps (W1, W2, as before), mps, lps
    topic: str  # the Lookout input topic (before the run's prefix)


SHAPES = {
    W1: Shape("W1 (1/msg)", "metrics", "eps", METRICS),
    W2: Shape("W2 (100/msg)", "metrics", "eps", METRICS),
    W1F: Shape("W1f (1/msg)", "metrics", "mps", METRICS),
    W3: Shape("W3 lines", "lines", "lps", LOGS_NGINX),
    W3A: Shape("W3a app lines", "lines", "lps", LOGS_APP),
}


def _known(workload: str) -> None:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}")


def rounded_count(workload: str, count: int) -> int:
    """``count`` rounded up to whole steps: the records (metrics or lines) the workload has."""
    _known(workload)
    if workload == W1F:
        return w1f_intervals(count) * W1F_PER_INTERVAL
    if workload in (W3, W3A):
        return w3_seconds(count) * LINES_PER_SECOND
    return intervals_for(count) * METRICS_PER_INTERVAL


def message_count(workload: str, count: int) -> int:
    """Kafka messages a workload of ``count`` records (rounded to whole steps) produces."""
    _known(workload)
    if workload == W2:
        return -(-intervals_for(count) // BATCH_INTERVALS) * HOSTS
    return rounded_count(workload, count)  # one record per message


def span(workload: str, count: int) -> int:
    """Seconds of event time the workload covers."""
    _known(workload)
    if workload == W1F:
        return w1f_intervals(count) * INTERVAL
    if workload in (W3, W3A):
        return w3_seconds(count)
    return intervals_for(count) * INTERVAL


def start_for(workload: str, count: int, now: float) -> int:
    """Event time of the workload's first record, so its last falls just before ``now``."""
    return plan_start(count, now, span=span(workload, count))


def messages(workload: str, count: int, start: int) -> Iterator[Message]:
    """The messages of ``workload``."""
    _known(workload)
    if workload == W1:
        return w1_messages(count, start)
    if workload == W2:
        return w2_messages(count, start)
    if workload == W1F:
        return w1f_messages(count, start)
    if workload == W3A:
        return w3a_messages(count, start)
    return w3_messages(count, start)
