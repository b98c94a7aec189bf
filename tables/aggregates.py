"""Mergeable window aggregates: gauges (MetricAgg), cumulative counters (CounterAgg), logs (LogAgg).

Every aggregate is built per pane by ``add``; windows are built by merging panes.
``merge(other)`` works in place on ``self``, never touches ``other``, and returns ``self``; to
build a window without disturbing a pane, start from ``pane.copy()`` or an empty aggregate.
Merging is order-independent (up to float rounding of sums) except for exact event-time ties
across the merged parts, where ``other`` counts as added later; panes partition event time, so
the engine never produces such ties. ``to_state()`` gives lists of numbers, strings and None
(JSON-ready, no dicts), ``from_state()`` reverses it, and ``agg_to_state``/``agg_from_state``
add a kind tag so a pane can hold mixed kinds. Times are float seconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import inf, isfinite
from typing import Any, ClassVar, Self

from tables.sketch import DEFAULT_ALPHA, QuantileSketch

DEFAULT_MAX_SAMPLES = 1000
ERROR_LEVELS = frozenset({"error", "err", "crit", "critical", "alert", "emerg", "fatal", "panic"})
WARN_LEVELS = frozenset({"warn", "warning"})
_PERCENTILES = (0.5, 0.95, 0.99)


def _none_if_inf(x: float) -> float | None:
    return None if x in (inf, -inf) else x


def _inf_if_none(x: float | None, default: float) -> float:
    return default if x is None else x


def _check_kind(agg: object, other: object) -> None:
    if type(other) is not type(agg):
        raise TypeError(f"cannot merge {type(other).__name__} into {type(agg).__name__}")


class MetricAgg:
    """Gauge aggregate: count, sum, min, max, last (latest event time), quantile sketch."""

    KIND: ClassVar[str] = "m"
    __slots__ = ("count", "first_ts", "last", "last_ts", "max", "min", "sketch", "sum")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.count = 0
        self.sum: float = 0.0
        self.min: float = inf
        self.max: float = -inf
        self.last: float | None = None
        self.first_ts: float = inf
        self.last_ts: float = -inf
        self.sketch = QuantileSketch(alpha)

    def add(self, value: float, ts: float) -> None:
        """Count one value at event time ``ts``; on a ts tie the later-added value is last."""
        self.sketch.add(value)  # first: it rejects NaN and infinities
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if ts >= self.last_ts:
            self.last_ts = ts
            self.last = value
        if ts < self.first_ts:
            self.first_ts = ts

    def merge(self, other: MetricAgg) -> Self:
        """Merge ``other`` into self (in place) and return self."""
        _check_kind(self, other)
        self.sketch.merge(other.sketch)
        if other.count:
            self.count += other.count
            self.sum += other.sum
            self.min = min(self.min, other.min)
            self.max = max(self.max, other.max)
            if other.last_ts >= self.last_ts:
                self.last_ts = other.last_ts
                self.last = other.last
            self.first_ts = min(self.first_ts, other.first_ts)
        return self

    def copy(self) -> MetricAgg:
        """An independent copy."""
        new = MetricAgg.__new__(MetricAgg)
        for name in MetricAgg.__slots__:
            setattr(new, name, getattr(self, name))
        new.sketch = self.sketch.copy()
        return new

    def result(self, window_seconds: float | None = None) -> dict[str, Any]:
        """count, sum, min, max, mean, last, p50, p95, p99, first_ts, last_ts (None if empty).

        Percentiles are clamped to [min, max], which only brings them closer to the exact ones.
        ``window_seconds`` is accepted for a uniform call across kinds and is not used.
        """
        n = self.count
        pcts: list[float | None] = [
            None if p is None else min(max(p, self.min), self.max)
            for p in self.sketch.quantiles(_PERCENTILES)
        ]
        return {
            "count": n,
            "sum": self.sum,
            "min": self.min if n else None,
            "max": self.max if n else None,
            "mean": self.sum / n if n else None,
            "last": self.last,
            "p50": pcts[0],
            "p95": pcts[1],
            "p99": pcts[2],
            "first_ts": self.first_ts if n else None,
            "last_ts": self.last_ts if n else None,
        }

    def to_state(self) -> list[Any]:
        """``[count, sum, min, max, last, first_ts, last_ts, sketch_state]`` (None if empty)."""
        return [
            self.count,
            self.sum,
            _none_if_inf(self.min),
            _none_if_inf(self.max),
            self.last,
            _none_if_inf(self.first_ts),
            _none_if_inf(self.last_ts),
            self.sketch.to_state(),
        ]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> MetricAgg:
        """Rebuild from ``to_state()`` output."""
        count, total, lo, hi, last, first_ts, last_ts, sketch = state
        agg = cls.__new__(cls)
        agg.count = count
        agg.sum = total
        agg.min = _inf_if_none(lo, inf)
        agg.max = _inf_if_none(hi, -inf)
        agg.last = last
        agg.first_ts = _inf_if_none(first_ts, inf)
        agg.last_ts = _inf_if_none(last_ts, -inf)
        agg.sketch = QuantileSketch.from_state(sketch)
        return agg


class _Run:
    """A summary of consecutive counter samples: the first and last sample plus what lies between.

    Treated as immutable once built: ``join``/``step`` are only called on a fresh chain.
    """

    __slots__ = (
        "increase",
        "inexact",
        "intervals",
        "rate_max",
        "rate_min",
        "rate_sum",
        "rates",
        "resets",
        "samples",
        "t0",
        "t1",
        "v0",
        "v1",
    )

    def __init__(self, t: float, v: float, alpha: float) -> None:
        self.t0 = self.t1 = t
        self.v0 = self.v1 = v
        self.samples = 1
        self.increase: float = 0
        self.resets = 0
        self.intervals = 0
        self.rate_min: float = inf
        self.rate_max: float = -inf
        self.rate_sum: float = 0.0
        self.rates = QuantileSketch(alpha)
        self.inexact = 0

    def copy(self) -> _Run:
        """A copy with its own rate sketch, to start a new chain from."""
        run = _Run.__new__(_Run)
        for name in _Run.__slots__:
            setattr(run, name, getattr(self, name))
        run.rates = self.rates.copy()
        return run

    def step(self, t: float, v: float) -> None:
        """Extend by one sample; one at or before the end cannot be placed and is inexact."""
        self.samples += 1
        if t > self.t1:
            self._interval(t, v)
        else:
            self.inexact += 1

    def _interval(self, t: float, v: float) -> None:
        d = v - self.v1
        if d < 0:  # counter reset: the new value is the increase since the reset
            self.resets += 1
            d = v
        self.increase += d
        r = d / (t - self.t1)
        self.intervals += 1
        self.rate_sum += r
        if r < self.rate_min:
            self.rate_min = r
        if r > self.rate_max:
            self.rate_max = r
        self.rates.add(r)
        self.t1 = t
        self.v1 = v

    def join(self, other: _Run) -> None:
        """Extend by a later run, counting the interval between them."""
        if other.t0 > self.t1:
            self._interval(other.t0, other.v0)
        else:  # overlapping runs (never from time-partitioned panes): no boundary interval
            self.inexact += 1
        if other.t1 > self.t1:
            self.t1, self.v1 = other.t1, other.v1
        self.samples += other.samples
        self.increase += other.increase
        self.resets += other.resets
        self.intervals += other.intervals
        self.rate_sum += other.rate_sum
        self.rate_min = min(self.rate_min, other.rate_min)
        self.rate_max = max(self.rate_max, other.rate_max)
        self.rates.merge(other.rates)
        self.inexact += other.inexact

    def to_state(self) -> list[Any]:
        return [
            self.t0,
            self.v0,
            self.t1,
            self.v1,
            self.samples,
            self.increase,
            self.resets,
            self.intervals,
            _none_if_inf(self.rate_min),
            _none_if_inf(self.rate_max),
            self.rate_sum,
            self.inexact,
            self.rates.to_state(),
        ]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> _Run:
        (t0, v0, t1, v1, samples, increase, resets, intervals, rmin, rmax, rsum, inexact, rates) = (
            state
        )
        run = cls.__new__(cls)
        run.t0, run.v0, run.t1, run.v1 = t0, v0, t1, v1
        run.samples, run.increase, run.resets, run.intervals = samples, increase, resets, intervals
        run.rate_min = _inf_if_none(rmin, inf)
        run.rate_max = _inf_if_none(rmax, -inf)
        run.rate_sum, run.inexact = rsum, inexact
        run.rates = QuantileSketch.from_state(rates)
        return run


def _fold(
    samples: Sequence[tuple[float, float]], runs: Sequence[_Run], alpha: float
) -> _Run | None:
    """Chain samples (sorted by ts) and runs in event-time order into one new run."""
    items: list[tuple[float, int, Any]] = [(r.t0, 0, r) for r in runs]
    items += [(t, 1, (t, v)) for t, v in samples]
    if runs:
        items.sort(key=lambda item: item[:2])  # a run sorts before a sample at its t0
    chain: _Run | None = None
    for t, is_sample, item in items:
        if chain is None:
            chain = _Run(t, item[1], alpha) if is_sample else item.copy()
        elif is_sample:
            chain.step(t, item[1])
        else:
            chain.join(item)
    return chain


class CounterAgg:
    """Cumulative counter aggregate: increase and per-second rates with counter resets handled.

    Samples are kept as ``{ts: value}`` (a duplicate ts keeps the later-added value), so samples
    arriving out of order within the grace period are placed exactly. When ``add`` takes the
    pane past ``max_samples`` raw samples, the older half is folded into a summary run (first
    and last sample, increase, resets, interval-rate stats); later samples before or after a run
    still chain exactly, one landing inside a run's span is counted in ``samples`` and
    ``inexact`` but adds no interval. The increase covers the intervals between samples inside
    the aggregate only: the one from the previous window's last sample is not included (no
    extrapolation).
    """

    KIND: ClassVar[str] = "c"
    __slots__ = ("_runs", "_samples", "alpha", "max_samples")

    def __init__(
        self, *, max_samples: int = DEFAULT_MAX_SAMPLES, alpha: float = DEFAULT_ALPHA
    ) -> None:
        if max_samples < 2:
            raise ValueError(f"CounterAgg max_samples must be >= 2, got {max_samples!r}")
        self.max_samples = max_samples
        self.alpha = alpha
        self._samples: dict[float, float] = {}
        self._runs: list[_Run] = []

    def add(self, value: float, ts: float) -> None:
        """Record the counter's value at event time ``ts``; raises ValueError if not finite."""
        if not isfinite(value):
            raise ValueError(f"CounterAgg cannot add {value!r}")
        samples = self._samples
        samples[ts] = value
        if len(samples) > self.max_samples:
            self._compact()

    def merge(self, other: CounterAgg) -> Self:
        """Union other's samples and runs into self (in place); return self.

        Never compacts: a summary made here could span a gap that a pane merged later fills,
        so the merged size is the sum of the parts' (each bounded by its own ``add``).
        """
        _check_kind(self, other)
        self._samples.update(other._samples)
        self._runs.extend(other._runs)
        return self

    def copy(self) -> CounterAgg:
        """An independent copy."""
        new = CounterAgg(max_samples=self.max_samples, alpha=self.alpha)
        new._samples = dict(self._samples)
        new._runs = list(self._runs)
        return new

    def _compact(self) -> None:
        """Fold all but the newest max_samples // 2 samples (and runs before them) into a run."""
        ordered = sorted(self._samples.items())
        keep = self.max_samples // 2
        cut = ordered[-keep][0]
        older = [r for r in self._runs if r.t0 < cut]
        run = _fold(ordered[:-keep], older, self.alpha)
        assert run is not None
        self._runs = [run, *(r for r in self._runs if r.t0 >= cut)]
        self._samples = dict(ordered[-keep:])

    def result(self, window_seconds: float | None = None) -> dict[str, Any]:
        """samples, resets, increase, rate, interval-rate stats (rate_* keys), first/last ts.

        increase and rate are None with fewer than 2 samples; rate_p95 comes from a sketch
        (relative error <= alpha). ``window_seconds`` is accepted for a uniform call and unused.
        """
        run = _fold(sorted(self._samples.items()), self._runs, self.alpha)
        if run is None:
            run = _Run(0.0, 0.0, self.alpha)
            run.samples = 0
        enough = run.samples >= 2 and run.t1 > run.t0
        n = run.intervals
        return {
            "samples": run.samples,
            "resets": run.resets,
            "increase": run.increase if enough else None,
            "rate": run.increase / (run.t1 - run.t0) if enough else None,
            "intervals": n,
            "rate_min": run.rate_min if n else None,
            "rate_max": run.rate_max if n else None,
            "rate_mean": run.rate_sum / n if n else None,
            "rate_p95": run.rates.quantile(0.95),
            "first_ts": run.t0 if run.samples else None,
            "last_ts": run.t1 if run.samples else None,
            "inexact": run.inexact,
        }

    def to_state(self) -> list[Any]:
        """``[[ts, value, ts, value, ...]]`` sorted by ts, plus ``[runs, max_samples, alpha]``
        when there are summary runs or non-default parameters."""
        flat: list[float] = []
        for t, v in sorted(self._samples.items()):
            flat += (t, v)
        if self._runs or self.max_samples != DEFAULT_MAX_SAMPLES or self.alpha != DEFAULT_ALPHA:
            return [flat, [r.to_state() for r in self._runs], self.max_samples, self.alpha]
        return [flat]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> CounterAgg:
        """Rebuild from ``to_state()`` output."""
        flat, *rest = state
        runs, max_samples, alpha = rest or ([], DEFAULT_MAX_SAMPLES, DEFAULT_ALPHA)
        agg = cls(max_samples=max_samples, alpha=alpha)
        agg._samples = dict(zip(flat[::2], flat[1::2], strict=True))
        agg._runs = [_Run.from_state(r) for r in runs]
        return agg


class LogAgg:
    """Log aggregate per (service, host): requests by status class, log lines by level, latency.

    ``log_lines`` counts ``add_line`` calls only (error and app log lines), not requests.
    """

    KIND: ClassVar[str] = "l"
    _COUNTS: ClassVar[tuple[str, ...]] = (
        "requests",
        "s2xx",
        "s3xx",
        "s4xx",
        "s5xx",
        "other",
        "bytes",
        "log_lines",
        "error_lines",
        "warn_lines",
    )
    __slots__ = (*_COUNTS, "first_ts", "last_ts", "latency", "upstream")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.requests = 0
        self.s2xx = 0
        self.s3xx = 0
        self.s4xx = 0
        self.s5xx = 0
        self.other = 0
        self.bytes = 0
        self.log_lines = 0
        self.error_lines = 0
        self.warn_lines = 0
        self.first_ts: float = inf
        self.last_ts: float = -inf
        self.latency = QuantileSketch(alpha)
        self.upstream: QuantileSketch | None = None

    def add_request(
        self,
        status: int,
        bytes: int,
        request_time: float | None,
        ts: float,
        upstream_time: float | None = None,
    ) -> None:
        """Count one access-log request; times are in seconds, None when the log lacks them."""
        if request_time is not None:
            self.latency.add(request_time)
        if upstream_time is not None:
            if self.upstream is None:
                self.upstream = QuantileSketch(self.latency.alpha)
            self.upstream.add(upstream_time)
        self.requests += 1
        self.bytes += bytes
        if status < 400:
            if status >= 300:
                self.s3xx += 1
            elif status >= 200:
                self.s2xx += 1
            else:
                self.other += 1
        elif status < 500:
            self.s4xx += 1
        elif status < 600:
            self.s5xx += 1
        else:
            self.other += 1
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts

    def add_line(self, level: str, ts: float) -> None:
        """Count one error-log or app-log line by level (case-insensitive)."""
        self.log_lines += 1
        lvl = level.lower()
        if lvl in ERROR_LEVELS:
            self.error_lines += 1
        elif lvl in WARN_LEVELS:
            self.warn_lines += 1
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts

    def merge(self, other: LogAgg) -> Self:
        """Merge ``other`` into self (in place) and return self."""
        _check_kind(self, other)
        self.latency.merge(other.latency)
        if other.upstream is not None:
            if self.upstream is None:
                self.upstream = QuantileSketch(self.latency.alpha)
            self.upstream.merge(other.upstream)
        for name in self._COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)
        return self

    def copy(self) -> LogAgg:
        """An independent copy."""
        new = LogAgg.__new__(LogAgg)
        for name in LogAgg.__slots__:
            setattr(new, name, getattr(self, name))
        new.latency = self.latency.copy()
        new.upstream = None if self.upstream is None else self.upstream.copy()
        return new

    def result(self, window_seconds: float | None = None) -> dict[str, Any]:
        """Counts, error_rate, client_error_rate, latency and upstream p50/p95/p99, req_rate.

        error_rate is s5xx / requests, else error_lines / log_lines, else 0.0 (for dashboards);
        http_error_rate is s5xx / requests and log_error_rate error_lines / log_lines, each None
        without its denominator (for alerts); req_rate is requests / window_seconds.
        """
        if window_seconds is not None and not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
        req = self.requests
        if req:
            error_rate = self.s5xx / req
        elif self.log_lines:
            error_rate = self.error_lines / self.log_lines
        else:
            error_rate = 0.0
        out: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTS}
        out["error_rate"] = error_rate
        # Unmixed rates for alerting: a window holding app-log lines but no requests yet (the
        # topics progress separately) must not read as an HTTP error rate.
        out["http_error_rate"] = self.s5xx / req if req else None
        out["log_error_rate"] = self.error_lines / self.log_lines if self.log_lines else None
        out["client_error_rate"] = self.s4xx / req if req else 0.0
        out["req_rate"] = req / window_seconds if window_seconds else None
        for prefix, sketch in (("latency", self.latency), ("upstream", self.upstream)):
            qs = sketch.quantiles(_PERCENTILES) if sketch else [None] * 3
            for q, v in zip(("p50", "p95", "p99"), qs, strict=True):
                out[f"{prefix}_{q}"] = v
        out["first_ts"] = _none_if_inf(self.first_ts)
        out["last_ts"] = _none_if_inf(self.last_ts)
        return out

    def to_state(self) -> list[Any]:
        """The ten counts in ``_COUNTS`` order, first_ts, last_ts, latency and upstream sketch
        states (upstream None when never seen)."""
        return [
            *(getattr(self, name) for name in self._COUNTS),
            _none_if_inf(self.first_ts),
            _none_if_inf(self.last_ts),
            self.latency.to_state(),
            None if self.upstream is None else self.upstream.to_state(),
        ]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> LogAgg:
        """Rebuild from ``to_state()`` output."""
        *counts, first_ts, last_ts, latency, upstream = state
        agg = cls.__new__(cls)
        for name, value in zip(cls._COUNTS, counts, strict=True):
            setattr(agg, name, value)
        agg.first_ts = _inf_if_none(first_ts, inf)
        agg.last_ts = _inf_if_none(last_ts, -inf)
        agg.latency = QuantileSketch.from_state(latency)
        agg.upstream = None if upstream is None else QuantileSketch.from_state(upstream)
        return agg


Aggregate = MetricAgg | CounterAgg | LogAgg
KINDS: dict[str, type[MetricAgg] | type[CounterAgg] | type[LogAgg]] = {
    cls.KIND: cls for cls in (MetricAgg, CounterAgg, LogAgg)
}


def agg_to_state(agg: Aggregate) -> list[Any]:
    """The aggregate's state prefixed by its kind tag: "m" metric, "c" counter, "l" log."""
    return [agg.KIND, *agg.to_state()]


def agg_from_state(state: Sequence[Any]) -> Aggregate:
    """Rebuild any aggregate from ``agg_to_state()`` output."""
    kind = state[0] if state else None
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown aggregate kind {kind!r} in state; expected one of {list(KINDS)}")
    return cls.from_state(state[1:])
