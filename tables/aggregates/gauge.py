"""Gauge aggregate (MetricAgg): count, sum, min, max, last and the values' percentiles.

Percentiles: while an aggregate holds at most ``RAW_MAX`` values it keeps them as they are and
its percentiles are exact (the lower rank-based quantile, the element of zero-based rank
``floor(q * (n - 1))``); past that it moves them into a quantile sketch (relative error <=
alpha, ``tables/sketch.py``). Which of the two holds depends only on the multiset of values (a
sketch is a function of it), so panes merge to the same window whatever the order. A 60-s pane
of a 10-s Telegraf interval holds 6 values and a 5-min window 30: the usual gauge never needs a
sketch, which is cheaper to update and to write to the changelog, and exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import inf
from typing import Any, ClassVar, Self

from tables.aggregates.base import PERCENTILES, check_kind, inf_if_none, none_if_inf
from tables.sketch import DEFAULT_ALPHA, RAW_MAX, QuantileSketch, Values

#: Result keys of a gauge that come from its sketch.
QUANTILE_KEYS = frozenset({"p50", "p95", "p99"})
Q50, Q95, Q99 = PERCENTILES
_INFS = (inf, -inf)


def _raw_percentiles(ordered: list[float]) -> list[float | None]:
    """p50, p95, p99 of sorted raw values: the elements of rank ``floor(q * (n - 1))``."""
    if not ordered:
        return [None, None, None]
    top = len(ordered) - 1
    return [ordered[int(Q50 * top)], ordered[int(Q95 * top)], ordered[int(Q99 * top)]]


def _result(
    n: int,
    total: float,
    lo: float,
    hi: float,
    last: float | None,
    first_ts: float,
    last_ts: float,
    pcts: list[float | None] | None,
) -> dict[str, Any]:
    """A gauge's result dict, in its key order (``pcts`` None: percentiles left out)."""
    out: dict[str, Any] = {
        "count": n,
        "sum": total,
        "min": lo if n else None,
        "max": hi if n else None,
        "mean": total / n if n else None,
        "last": last,
    }
    if pcts is not None:
        out["p50"], out["p95"], out["p99"] = pcts
    out["first_ts"] = first_ts if n else None
    out["last_ts"] = last_ts if n else None
    return out


class MetricAgg:
    """Gauge aggregate: count, sum, min, max, last (latest event time), percentiles."""

    KIND: ClassVar[str] = "m"
    __slots__ = ("count", "first_ts", "last", "last_ts", "max", "min", "sum", "values")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.count = 0
        self.sum: float = 0.0
        self.min: float = inf
        self.max: float = -inf
        self.last: float | None = None
        self.first_ts: float = inf
        self.last_ts: float = -inf
        self.values = Values(alpha)  # for the percentiles

    @property
    def sketch(self) -> QuantileSketch:
        """The values as a quantile sketch (a copy built from them while they are kept raw)."""
        values = self.values
        if values.sketch is not None:
            return values.sketch
        return values.copy().to_sketch()

    def add(self, value: float, ts: float) -> None:
        """Count one value at event time ``ts``; on a ts tie the later-added value is last.

        Raises ValueError for NaN or infinities.
        """
        if not -inf < value < inf:
            raise ValueError(f"MetricAgg cannot add {value!r}")
        values = self.values
        vals = values.vals  # Values.add, inlined: the hottest line of a gauge
        if vals is None:
            values.sketch.add(value)  # type: ignore[union-attr]
        else:
            vals.append(value)
            if len(vals) > RAW_MAX:
                values.to_sketch()
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
        check_kind(self, other)
        self.values.merge(other.values)
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
        new = MetricAgg(self.values.alpha)  # a plain constructor (native build)
        new.count, new.sum, new.min, new.max = self.count, self.sum, self.min, self.max
        new.last, new.first_ts, new.last_ts = self.last, self.first_ts, self.last_ts
        new.values = self.values.copy()
        return new

    def result(
        self, window_seconds: float | None = None, *, keys: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """count, sum, min, max, mean, last, p50, p95, p99, first_ts, last_ts (None if empty).

        Percentiles are clamped to [min, max], which only brings them closer to the exact ones;
        ``keys`` (the keys a reader needs; None: all) leaves the percentiles out unless one of
        them is wanted (the sketch walk is most of the cost); the cheap keys are always there.
        ``window_seconds`` is accepted for a uniform call across kinds and is not used.
        """
        pcts: list[float | None] | None = None
        if keys is None or not keys.isdisjoint(QUANTILE_KEYS):
            vals = self.values.vals
            if vals:  # exact: values of the aggregate, within [min, max] already
                pcts = _raw_percentiles(sorted(vals))
            else:
                pcts = [
                    None if p is None else min(max(p, self.min), self.max)
                    for p in self.values.quantiles(PERCENTILES)
                ]
        return _result(
            self.count, self.sum, self.min, self.max, self.last, self.first_ts, self.last_ts, pcts
        )

    @staticmethod
    def merged_result(parts: Sequence[MetricAgg]) -> dict[str, Any] | None:
        """``result()`` of the merge of ``parts`` (panes in order, at least two), computed
        without copies while the merge would still hold raw values (at most ``RAW_MAX``, one
        alpha); None otherwise (the caller merges). The hot path of closing a hopping window.

        Same arithmetic as copy-then-:meth:`merge` in order: the sum adds the parts' sums left
        to right, and a part wins ``last`` on an event-time tie with an earlier one.
        """
        first = parts[0]
        alpha = first.values.alpha
        vals: list[float] = []
        n = 0
        total = 0.0
        lo, hi = inf, -inf
        last: float | None = None
        first_ts, last_ts = inf, -inf
        for i, agg in enumerate(parts):
            pv = agg.values
            raw = pv.vals
            if raw is None or pv.alpha != alpha:
                return None
            vals += raw
            if i == 0:  # the copy the merge starts from, empty or not
                n, total, lo, hi = agg.count, agg.sum, agg.min, agg.max
                last, first_ts, last_ts = agg.last, agg.first_ts, agg.last_ts
            elif agg.count:
                n += agg.count
                total += agg.sum
                if agg.min < lo:
                    lo = agg.min
                if agg.max > hi:
                    hi = agg.max
                if agg.last_ts >= last_ts:
                    last_ts, last = agg.last_ts, agg.last
                if agg.first_ts < first_ts:
                    first_ts = agg.first_ts
        if len(vals) > RAW_MAX:
            return None
        vals.sort()
        return _result(n, total, lo, hi, last, first_ts, last_ts, _raw_percentiles(vals))

    def to_state(self) -> list[Any]:
        """``[count, sum, min, max, last, first_ts, last_ts, sketch_state]`` (None if empty),
        or with raw values ``[..., last_ts, None, values]`` (plus ``alpha`` if not the default).

        The 8-element form is also what Lookout before raw values wrote; both are read back.
        """
        head = [
            self.count,
            self.sum,
            none_if_inf(self.min),
            none_if_inf(self.max),
            self.last,
            none_if_inf(self.first_ts),
            none_if_inf(self.last_ts),
        ]
        vals = self.values.to_state()
        if vals[0] is None:  # raw: [..., None, values] (+ alpha when not the default)
            return [*head, None, vals[2], *([vals[1]] if vals[1] != DEFAULT_ALPHA else [])]
        return [*head, vals]

    def tagged_state(self) -> list[Any]:
        """``["m", *self.to_state()]`` built as one list (writing panes is a hot path)."""
        lo, hi, first_ts, last_ts = self.min, self.max, self.first_ts, self.last_ts
        values = self.values
        state = [
            "m",
            self.count,
            self.sum,
            None if lo in _INFS else lo,
            None if hi in _INFS else hi,
            self.last,
            None if first_ts in _INFS else first_ts,
            None if last_ts in _INFS else last_ts,
        ]
        vals = values.vals
        if vals is None:
            state.append(values.to_state())
        else:
            state += (None, vals)
            if values.alpha != DEFAULT_ALPHA:
                state.append(values.alpha)
        return state

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> MetricAgg:
        """Rebuild from ``to_state()`` output (either form)."""
        count, total, lo, hi, last, first_ts, last_ts, sketch, *raw = state
        agg = cls()  # every field is set below
        agg.count = count
        agg.sum = total
        agg.min = inf_if_none(lo, inf)
        agg.max = inf_if_none(hi, -inf)
        agg.last = last
        agg.first_ts = inf_if_none(first_ts, inf)
        agg.last_ts = inf_if_none(last_ts, -inf)
        if sketch is None:  # raw values (see to_state)
            agg.values = Values.from_state(
                [None, raw[1] if len(raw) > 1 else DEFAULT_ALPHA, raw[0]]
            )
        else:
            agg.values = Values.from_state(sketch)
        return agg
