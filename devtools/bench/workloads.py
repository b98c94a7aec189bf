"""Benchmark workloads W1 and W2: Telegraf-format metrics of 1,000 hosts x 10 series (pure).

W1f (telegraf_inputs.py) and W3 (nginx_lines.py) build on the names here; catalog.py knows all.

Every metric carries one field, so one metric is one point of one series. Event times advance
by Telegraf's 10-s interval; ``start`` is an argument (see :func:`plan_start`), never read here.

- W1: Telegraf's ``json`` serializer, one metric per Kafka message, keyed by host. Order: interval
  by interval, all hosts, all series.
- W2: ``use_batch_format = true``: ``{"metrics": [...]}``, one host per message holding its 10
  series x 10 consecutive intervals (100 metrics; fewer only in a last, partial block).
- Latency: W2-shaped messages stamped with the current second, whose first series carries a
  growing marker value, so a reader can tell when a given message became visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from devtools.simulator.wire import telegraf_batch, telegraf_json
from formats.points import FieldValue, Metric

HOSTS = 1000
SERIES_PER_HOST = 10
INTERVAL = 10
BATCH_INTERVALS = 10
METRICS_PER_INTERVAL = HOSTS * SERIES_PER_HOST

W1, W2, W1F, W3, W3A = "w1", "w2", "w1f", "w3", "w3a"
WORKLOADS = (W1, W2, W1F, W3, W3A)

# (measurement, tags besides host, field): the 10 series of every host.
SERIES: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    ("cpu", (("cpu", "cpu-total"),), "usage_user"),
    ("cpu", (("cpu", "cpu-total"),), "usage_system"),
    ("cpu", (("cpu", "cpu-total"),), "usage_idle"),
    ("mem", (), "used_percent"),
    ("mem", (), "available_percent"),
    ("disk", (("device", "sda1"), ("path", "/")), "used_percent"),
    ("swap", (), "used_percent"),
    ("system", (), "load1"),
    ("system", (), "load5"),
    ("processes", (), "total"),
)
MARKER_SERIES = 0  # the latency run writes its marker into this series' field


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record to produce: key, value, timestamp (ms), records (metrics or lines) and
    numeric fields it holds."""

    key: bytes
    value: bytes
    timestamp_ms: int
    metrics: int
    fields: int


def host_name(index: int) -> str:
    """Name of host ``index``: ``host-0000`` .. ``host-0999``."""
    return f"host-{index:04d}"


def intervals_for(count: int, per_interval: int = METRICS_PER_INTERVAL) -> int:
    """Whole steps of ``per_interval`` records (default: W1's 10,000 series) to send ``count``."""
    if count <= 0:
        raise ValueError("count must be positive")
    return -(-count // per_interval)


def rounded_count(count: int) -> int:
    """``count`` rounded up to whole intervals: the number of metrics a workload really has."""
    return intervals_for(count) * METRICS_PER_INTERVAL


def plan_start(count: int, now: float, *, span: int | None = None) -> int:
    """Event time of the first interval: so the last one falls on the interval before ``now``.

    ``span``: seconds of event time the workload covers (default: W1/W2 of ``count`` metrics).
    """
    last = int(now // INTERVAL) * INTERVAL - INTERVAL
    if span is None:
        span = intervals_for(count) * INTERVAL
    return last - span + INTERVAL


class _Fleet:
    """Tag dicts of every (host, series), built once and shared by the metrics."""

    def __init__(self) -> None:
        self.hosts = [host_name(h) for h in range(HOSTS)]
        self.keys = [name.encode() for name in self.hosts]
        self.tags = [
            [{"host": host, **dict(extra)} for _name, extra, _field in SERIES]
            for host in self.hosts
        ]

    def metric(self, h: int, s: int, interval: int, ts: int) -> Metric:
        name, _extra, field = SERIES[s]
        fields: dict[str, FieldValue] = {field: value_of(h, s, interval)}
        return Metric(name, self.tags[h][s], fields, float(ts))


def value_of(h: int, s: int, interval: int) -> float:
    """A deterministic, varied value in [0, 80) for host ``h``, series ``s``, interval.

    Below the default alert rules' thresholds (90 %): a healthy fleet, whose rules are
    evaluated but never fire.
    """
    return ((h * 7919 + s * 104_729 + interval * 1_299_709) % 800) / 10


def w1_messages(count: int, start: int) -> Iterator[Message]:
    """W1: one Telegraf JSON metric per message, keyed by host, interval after interval."""
    fleet = _Fleet()
    for i in range(intervals_for(count)):
        ts = start + i * INTERVAL
        for h in range(HOSTS):
            key = fleet.keys[h]
            for s in range(SERIES_PER_HOST):
                yield Message(key, telegraf_json(fleet.metric(h, s, i, ts)), ts * 1000, 1, 1)


def w2_messages(count: int, start: int) -> Iterator[Message]:
    """W2: Telegraf batch format, one host's 10 series x 10 intervals per message."""
    fleet = _Fleet()
    intervals = intervals_for(count)
    for first in range(0, intervals, BATCH_INTERVALS):
        block = range(first, min(first + BATCH_INTERVALS, intervals))
        last_ts = start + block[-1] * INTERVAL
        for h in range(HOSTS):
            metrics = [
                fleet.metric(h, s, i, start + i * INTERVAL)
                for i in block
                for s in range(SERIES_PER_HOST)
            ]
            n = len(metrics)
            yield Message(fleet.keys[h], telegraf_batch(metrics), last_ts * 1000, n, n)


class LatencyMessages:
    """W2-shaped live messages: host after host, stamped ``now``, series 0 holding ``seq``."""

    def __init__(self) -> None:
        self._fleet = _Fleet()

    def host_of(self, seq: int) -> str:
        """The host that message ``seq`` belongs to."""
        return self._fleet.hosts[seq % HOSTS]

    def message(self, seq: int, now: float) -> Message:
        """Message ``seq``: 10 series x 10 points at second ``now``; the marker value is ``seq``."""
        fleet, h, ts = self._fleet, seq % HOSTS, int(now)
        metrics = []
        for i in range(BATCH_INTERVALS):
            for s in range(SERIES_PER_HOST):
                m = fleet.metric(h, s, i, ts)
                if s == MARKER_SERIES:
                    m.fields = {SERIES[s][2]: float(seq)}
                metrics.append(m)
        n = len(metrics)
        return Message(fleet.keys[h], telegraf_batch(metrics), ts * 1000, n, n)


def marker_field() -> str:
    """Field name of the series that carries the latency marker."""
    return SERIES[MARKER_SERIES][2]
