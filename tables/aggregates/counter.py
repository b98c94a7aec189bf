"""Cumulative counter aggregate (CounterAgg): increase and per-second rates, resets handled."""

from __future__ import annotations

from collections.abc import Sequence
from math import inf, isfinite
from typing import Any, ClassVar, Self

from tables.aggregates.base import check_kind, inf_if_none, none_if_inf
from tables.sketch import DEFAULT_ALPHA, RAW_MAX, Values, exact_quantiles

DEFAULT_MAX_SAMPLES = 1000


# A run's fields (its slots), for copies (a compiled class has no __slots__ to read).
_RUN_FIELDS = (
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


class _Run:
    """A summary of consecutive counter samples: the first and last sample plus what lies between.

    Treated as immutable once built: ``join``/``step`` are only called on a fresh chain.
    """

    __slots__ = _RUN_FIELDS

    def __init__(self, t: float, v: float, alpha: float) -> None:
        self.t0 = self.t1 = t
        self.v0 = self.v1 = v
        self.samples = 1
        self.increase: float = 0.0
        self.resets = 0
        self.intervals = 0
        self.rate_min: float = inf
        self.rate_max: float = -inf
        self.rate_sum: float = 0.0
        self.rates = Values(alpha)
        self.inexact = 0

    def copy(self) -> _Run:
        """A copy with its own rate sketch, to start a new chain from."""
        run = _Run(self.t0, self.v0, self.rates.alpha)  # a plain constructor (native build)
        for name in _RUN_FIELDS:
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
            none_if_inf(self.rate_min),
            none_if_inf(self.rate_max),
            self.rate_sum,
            self.inexact,
            self.rates.to_state(),
        ]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> _Run:
        (t0, v0, t1, v1, samples, increase, resets, intervals, rmin, rmax, rsum, inexact, rates) = (
            state
        )
        run = cls(t0, v0, DEFAULT_ALPHA)  # every field is set below
        run.t0, run.v0, run.t1, run.v1 = t0, v0, t1, v1
        run.samples, run.increase, run.resets, run.intervals = samples, increase, resets, intervals
        run.rate_min = inf_if_none(rmin, inf)
        run.rate_max = inf_if_none(rmax, -inf)
        run.rate_sum, run.inexact = rsum, inexact
        run.rates = Values.from_state(rates)
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


def samples_result(ordered: Sequence[tuple[float, float]]) -> dict[str, Any] | None:
    """:meth:`CounterAgg.result` of raw samples alone (no summary run), sorted by ts with
    distinct ts, or None when the direct path does not apply (no sample, more than
    ``RAW_MAX`` intervals, a rate that is not finite): the caller takes the general path.

    The hot path of closing a counter's windows (a Telegraf host has ~20 counter fields, each
    closing a tumbling and a hopping window a minute). The same arithmetic, in the same order,
    as :func:`_fold` chaining the samples into a :class:`_Run` (each sample after the last:
    ``_Run._interval``), without the run, its rate ``Values`` and the item tuples; the rates
    stay raw, so ``rate_p95`` is the exact quantile the run's ``Values`` would give.
    """
    count = len(ordered)
    if count == 0 or count - 1 > RAW_MAX:
        return None
    t0, v0 = ordered[0]
    t1, v1 = t0, v0
    increase = 0.0
    resets = 0
    rate_min, rate_max, rate_sum = inf, -inf, 0.0
    rates: list[float] = []
    for i in range(1, count):
        t, v = ordered[i]
        d = v - v1
        if d < 0:  # counter reset: the new value is the increase since the reset
            resets += 1
            d = v
        increase += d
        r = d / (t - t1)
        if not -inf < r < inf:
            return None  # Values.add refuses it: the general path raises as before
        rate_sum += r
        if r < rate_min:
            rate_min = r
        if r > rate_max:
            rate_max = r
        rates.append(r)
        t1, v1 = t, v
    rate_p95 = exact_quantiles(rates, (0.95,))[0]
    return _result(
        count, resets, increase, t0, t1, count - 1, rate_min, rate_max, rate_sum, rate_p95, 0
    )


def folded_result(run: _Run | None, alpha: float) -> dict[str, Any]:
    """The result of a counter whose samples and runs are chained into ``run`` (None: none)."""
    if run is None:
        run = _Run(0.0, 0.0, alpha)
        run.samples = 0
    rate_p95 = run.rates.quantile(0.95)
    return _result(
        run.samples, run.resets, run.increase, run.t0, run.t1, run.intervals,
        run.rate_min, run.rate_max, run.rate_sum, rate_p95, run.inexact,
    )  # fmt: skip


def _result(
    samples: int,
    resets: int,
    increase: float,
    t0: float,
    t1: float,
    intervals: int,
    rate_min: float,
    rate_max: float,
    rate_sum: float,
    rate_p95: float | None,
    inexact: int,
) -> dict[str, Any]:
    """A counter's result dict, in its key order (increase and rate need two samples apart in
    time; the rate stats need an interval)."""
    enough = samples >= 2 and t1 > t0
    n = intervals
    return {
        "samples": samples,
        "resets": resets,
        "increase": increase if enough else None,
        "rate": increase / (t1 - t0) if enough else None,
        "intervals": n,
        "rate_min": rate_min if n else None,
        "rate_max": rate_max if n else None,
        "rate_mean": rate_sum / n if n else None,
        "rate_p95": rate_p95,
        "first_ts": t0 if samples else None,
        "last_ts": t1 if samples else None,
        "inexact": inexact,
    }


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
        check_kind(self, other)
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

    def result(
        self, window_seconds: float | None = None, *, keys: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """samples, resets, increase, rate, interval-rate stats (rate_* keys), first/last ts.

        increase and rate are None with fewer than 2 samples; rate_p95 is exact up to 32
        intervals, then from a sketch (relative error <= alpha). ``window_seconds`` is accepted
        for a uniform call and unused.
        """
        ordered = sorted(self._samples.items())
        if not self._runs:
            direct = samples_result(ordered)
            if direct is not None:
                return direct
        return folded_result(_fold(ordered, self._runs, self.alpha), self.alpha)

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
