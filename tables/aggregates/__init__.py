"""Mergeable window aggregates: gauges (MetricAgg), counters (CounterAgg), logs (LogAgg), and
log lines per pattern (PatternAgg).

Every aggregate is built per pane by ``add``; windows are built by merging panes.
``merge(other)`` works in place on ``self``, never touches ``other``, and returns ``self``; to
build a window without disturbing a pane, start from ``pane.copy()`` or an empty aggregate.
Merging is order-independent (up to float rounding of sums) except for exact event-time ties
across the merged parts, where ``other`` counts as added later; panes partition event time, so
the engine never produces such ties. ``to_state()`` gives lists of numbers, strings and None
(JSON-ready, no dicts), ``from_state()`` reverses it, and ``agg_to_state``/``agg_from_state``
add a kind tag so a pane can hold mixed kinds. Times are float seconds since the epoch.

One module per kind (``gauge``, ``counter``, ``logs``, ``patterns``); the kind registry and the
merges across panes are ``kinds``, re-exported here.
"""

from __future__ import annotations

from tables.aggregates.counter import CounterAgg
from tables.aggregates.gauge import QUANTILE_KEYS, MetricAgg
from tables.aggregates.kinds import (
    KINDS,
    Aggregate,
    agg_from_state,
    agg_to_state,
    merge_aggs,
    merged_result,
)
from tables.aggregates.logs import LogAgg
from tables.aggregates.patterns import PatternAgg

__all__ = [
    "KINDS",
    "QUANTILE_KEYS",
    "Aggregate",
    "CounterAgg",
    "LogAgg",
    "MetricAgg",
    "PatternAgg",
    "agg_from_state",
    "agg_to_state",
    "merge_aggs",
    "merged_result",
]
