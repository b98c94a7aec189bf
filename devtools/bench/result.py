"""What a benchmark phase measured: one drain of one workload, or the latency run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RAW, BARE, NAIVE, LOOKOUT, QUIX = "raw", "bare", "naive", "lookout", "quix"
DRAINS = (RAW, BARE, NAIVE, LOOKOUT, QUIX)
DRAIN_TITLES = {
    RAW: "(a)  aiokafka getmany + orjson + dict",
    BARE: "(a') Faust agent: iterate + decode",
    NAIVE: "(b)  Faust naive: table[k] += 1",
    LOOKOUT: "(c)  Lookout worker",
    QUIX: "(d)  Quix Streams tumbling count",
}


@dataclass(frozen=True, slots=True)
class DrainResult:
    """Throughput of one drain over one workload (``complete`` False: stopped at the timeout)."""

    drain: str
    workload: str
    metrics: int
    seconds: float
    complete: bool = True
    peak_rss_mb: float | None = None

    @property
    def eps(self) -> float:
        """Metrics per second."""
        return self.metrics / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A drain that was not run, and why."""

    drain: str
    workload: str
    reason: str


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Produce-to-visible latencies (seconds) of the sampled messages of the latency run."""

    samples: list[float]
    missing: int
    sent: int
    seconds: float
    timeout: float
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        """Achieved produce rate, messages per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile; a message never seen counts as the timeout (pessimistic)."""
        values = sorted(self.samples) + [self.timeout] * self.missing
        if not values:
            return None
        rank = max(1, math.ceil(round(q * len(values), 9)))
        return values[min(rank, len(values)) - 1]


@dataclass
class Results:
    """Everything a run measured."""

    count: int
    drains: dict[tuple[str, str], DrainResult] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    latency: LatencyResult | None = None
    latency_skipped: str | None = None
    sinks: dict[str, float] | None = None
    sinks_skipped: str | None = None

    def add(self, result: DrainResult) -> None:
        """Record a drain result."""
        self.drains[(result.drain, result.workload)] = result

    def eps(self, drain: str, workload: str) -> float | None:
        """Metrics per second of a drain on a workload, None if it did not run."""
        r = self.drains.get((drain, workload))
        return None if r is None else r.eps
