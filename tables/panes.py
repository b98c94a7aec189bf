"""Panes: the aggregates of one host over one pane of event time, the unit windows merge."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tables.aggregates import Aggregate, agg_from_state, agg_to_state, merge_aggs


@dataclass(slots=True)
class Pane:
    """Aggregates of one host for one pane (``start`` .. ``start + pane size``)."""

    start: int
    aggs: dict[str, Aggregate] = field(default_factory=dict)
    hw: dict[str, int] = field(default_factory=dict)
    flushed: dict[str, int] = field(default_factory=dict)
    #: Moves on every record applied to the pane (memory only, never written): a reader that
    #: keeps something computed from the pane knows whether it still holds.
    version: int = 0

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; only what has been applied up to ``hw``."""
        return {
            "s": self.start,
            "hw": dict(self.hw),
            "a": {sid: agg_to_state(a) for sid, a in self.aggs.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Pane:
        """Rebuild a pane from :meth:`to_state` output."""
        hw = {k: int(v) for k, v in state["hw"].items()}
        aggs = {sid: agg_from_state(s) for sid, s in state["a"].items()}
        return cls(start=int(state["s"]), aggs=aggs, hw=hw, flushed=dict(hw))


def series_parts(panes: Iterable[Pane]) -> dict[str, list[Aggregate]]:
    """Each series of ``panes`` with its aggregates, in pane order (series in first-seen order)."""
    series: dict[str, list[Aggregate]] = {}
    for pane in panes:
        for sid, agg in pane.aggs.items():
            parts = series.get(sid)
            if parts is None:
                series[sid] = [agg]
            else:
                parts.append(agg)
    return series


def merge_panes(panes: Iterable[Pane]) -> dict[str, Aggregate]:
    """Each series of ``panes`` with its aggregates merged into a copy (panes stay untouched)."""
    series = series_parts(panes)
    out = {}
    for sid, aggs in series.items():
        merged = merge_aggs(aggs)
        if merged is not None:
            out[sid] = merged
    return out
