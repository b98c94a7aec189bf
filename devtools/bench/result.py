"""What a benchmark phase measured: one drain of one workload, or the latency run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

RAW, BARE, NAIVE, LOOKOUT, QUIX = "raw", "bare", "naive", "lookout", "quix"
LOOKOUT_SINKS = "lookout_sinks"  # the Lookout worker with its sinks on (--sinks)
LOOKOUT_NOPAT = "lookout_nopat"  # the Lookout worker with LOOKOUT_PATTERNS=false
DRAINS = (RAW, BARE, NAIVE, LOOKOUT, QUIX, LOOKOUT_NOPAT)
DEFAULT_DRAINS = (RAW, BARE, NAIVE, LOOKOUT, QUIX)
ROWS = (RAW, BARE, NAIVE, LOOKOUT, LOOKOUT_NOPAT, LOOKOUT_SINKS, QUIX)
DRAIN_TITLES = {
    RAW: "(a)  aiokafka getmany + decode + dict",
    BARE: "(a') Faust agent: iterate + decode",
    NAIVE: "(b)  Faust naive: table[k] += 1",
    LOOKOUT: "(c)  Lookout worker, sinks off",
    LOOKOUT_NOPAT: "(c-) Lookout worker, patterns off",
    LOOKOUT_SINKS: "(c+) Lookout worker, sinks on",
    QUIX: "(d)  Quix Streams tumbling count",
}


@dataclass(frozen=True, slots=True)
class DrainResult:
    """Throughput of one drain over one workload (``complete`` False: stopped at the timeout).

    ``metrics`` counts the workload's records (metrics, or lines for W3); ``runs``: the rate of
    every run when the drain was repeated (this result is then the median run).
    """

    drain: str
    workload: str
    metrics: int
    seconds: float
    complete: bool = True
    peak_rss_mb: float | None = None
    runs: tuple[float, ...] = ()

    @property
    def eps(self) -> float:
        """Records (metrics or lines) per second."""
        return self.metrics / self.seconds if self.seconds > 0 else 0.0


def median_run(runs: list[DrainResult]) -> DrainResult:
    """The median run (the lower middle one of an even number), with every run's rate and the
    highest peak RSS; complete only when every run was."""
    if not runs:
        raise ValueError("no runs")
    middle = sorted(runs, key=lambda r: r.eps)[(len(runs) - 1) // 2]
    peaks = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
    return replace(
        middle,
        complete=all(r.complete for r in runs),
        peak_rss_mb=max(peaks) if peaks else None,
        runs=tuple(r.eps for r in runs),
    )


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
    repeat: int = 1
    fields_per_record: dict[str, float] = field(default_factory=dict)

    def add(self, result: DrainResult) -> None:
        """Record a drain result."""
        self.drains[(result.drain, result.workload)] = result

    def eps(self, drain: str, workload: str) -> float | None:
        """Metrics per second of a drain on a workload, None if it did not run."""
        r = self.drains.get((drain, workload))
        return None if r is None else r.eps
