"""The kind registry of the aggregates: state with a kind tag, merges across panes (re-exported
by the ``tables.aggregates`` package; a module of its own so the native build compiles it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tables.aggregates.counter import CounterAgg, samples_result
from tables.aggregates.gauge import MetricAgg
from tables.aggregates.logs import LogAgg
from tables.aggregates.patterns import PatternAgg

Aggregate = MetricAgg | CounterAgg | LogAgg | PatternAgg
KINDS: dict[str, type[MetricAgg] | type[CounterAgg] | type[LogAgg] | type[PatternAgg]] = {
    cls.KIND: cls for cls in (MetricAgg, CounterAgg, LogAgg, PatternAgg)
}


def agg_to_state(agg: Aggregate) -> list[Any]:
    """The aggregate's state prefixed by its kind tag: "m" metric, "c" counter, "l" log,
    "t" pattern."""
    if type(agg) is MetricAgg:
        return agg.tagged_state()
    return [agg.KIND, *agg.to_state()]


def agg_from_state(state: Sequence[Any]) -> Aggregate:
    """Rebuild any aggregate from ``agg_to_state()`` output."""
    kind = state[0] if state else None
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown aggregate kind {kind!r} in state; expected one of {list(KINDS)}")
    return cls.from_state(state[1:])


def merge_aggs(aggs: Iterable[Aggregate]) -> Aggregate | None:
    """Merge aggregates of one series across panes into a copy, or ``None`` if there are none."""
    out: Aggregate | None = None
    for agg in aggs:
        if out is None:
            out = agg.copy()
        else:
            out.merge(agg)  # type: ignore[arg-type]
    return out


def merged_result(
    aggs: Sequence[Aggregate], window_seconds: float, keys: frozenset[str] | None
) -> dict[str, Any]:
    """``result`` of the merge of ``aggs`` (one series' panes, at least one), computed without
    copying what the reader's ``keys`` do not need (None: every key)."""
    first = aggs[0]
    if len(aggs) == 1:
        return first.result(window_seconds=window_seconds, keys=keys)  # result never mutates
    if type(first) is MetricAgg and keys is None:
        out = MetricAgg.merged_result(aggs)  # type: ignore[arg-type]
        if out is not None:
            return out
    elif type(first) is CounterAgg:
        direct = _merged_counter(aggs)
        if direct is not None:
            return direct
    elif type(first) is LogAgg:
        parts: Sequence[LogAgg] = aggs  # type: ignore[assignment]
        logs = LogAgg.merged(parts) if LogAgg.needs_sketches(keys) else LogAgg.merged_counts(parts)
        return logs.result(window_seconds=window_seconds, keys=keys)
    merged = merge_aggs(aggs)
    assert merged is not None  # at least one part
    return merged.result(window_seconds=window_seconds, keys=keys)


def _merged_counter(parts: Sequence[Aggregate]) -> dict[str, Any] | None:
    """``result()`` of the merge of counter panes made only of raw samples, without copying
    them into a merged aggregate (the hot path of closing a counter's hopping window); None
    when a part is not a counter or holds a summary run (the caller merges). Same samples as
    copy-then-:meth:`CounterAgg.merge` in order: a later part's sample wins a ts tie."""
    samples: dict[float, float] = {}
    for part in parts:
        if type(part) is not CounterAgg:
            return None
        counter: CounterAgg = part
        if counter._runs:
            return None
        samples.update(counter._samples)
    return samples_result(sorted(samples.items()))
