"""Pattern aggregate (PatternAgg) per (service, host): log lines counted per pattern id.

One aggregate per pane holds, for each pattern id (``patterns.miner``) seen in the pane, its
line count, its error-level line count and the event time the miner first saw the pattern (so a
window can tell patterns new in it). ``since`` is the event time of the service's first mined
line (the start of a ``new_pattern`` rule's learning period). At most ``MAX_PATTERNS`` ids per
aggregate: lines of further ids are counted in ``overflow`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import inf
from typing import Any, ClassVar, Self

from tables.aggregates.base import check_kind, inf_if_none, none_if_inf

MAX_PATTERNS = 1000


class PatternAgg:
    """Lines per pattern id of one (service, host): count, error lines, first seen."""

    KIND: ClassVar[str] = "t"
    __slots__ = ("counts", "first_ts", "last_ts", "lines", "overflow", "since")

    def __init__(self) -> None:
        self.counts: dict[str, list[Any]] = {}  # id -> [lines, error lines, first seen]
        self.lines = 0
        self.overflow = 0
        self.since: float = inf
        self.first_ts: float = inf
        self.last_ts: float = -inf

    def add_pattern(
        self, pid: str, error: bool, first_seen: float, since: float, ts: float
    ) -> None:
        """Count one line of pattern ``pid`` at event time ``ts``."""
        self.lines += 1
        entry = self.counts.get(pid)
        if entry is None:
            if len(self.counts) >= MAX_PATTERNS:
                self.overflow += 1
                entry = None
            else:
                entry = self.counts[pid] = [0, 0, first_seen]
        if entry is not None:
            entry[0] += 1
            if error:
                entry[1] += 1
            if first_seen < entry[2]:
                entry[2] = first_seen
        if since < self.since:
            self.since = since
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts

    def merge(self, other: PatternAgg) -> Self:
        """Merge ``other`` into self (in place) and return self."""
        check_kind(self, other)
        for pid, (n, errors, first) in other.counts.items():
            entry = self.counts.get(pid)
            if entry is not None:
                entry[0] += n
                entry[1] += errors
                entry[2] = min(entry[2], first)
            elif len(self.counts) < MAX_PATTERNS:
                self.counts[pid] = [n, errors, first]
            else:
                self.overflow += n
        self.lines += other.lines
        self.overflow += other.overflow
        self.since = min(self.since, other.since)
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)
        return self

    def copy(self) -> PatternAgg:
        """An independent copy."""
        new = PatternAgg()
        new.counts = {pid: list(entry) for pid, entry in self.counts.items()}
        new.lines, new.overflow, new.since = self.lines, self.overflow, self.since
        new.first_ts, new.last_ts = self.first_ts, self.last_ts
        return new

    def result(
        self, window_seconds: float | None = None, *, keys: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """Lines, overflow, since and per pattern id its count, errors and first_seen (``keys`` is
        accepted for a uniform call across kinds; every key is cheap here)."""
        if window_seconds is not None and not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
        return {
            "lines": self.lines,
            "overflow": self.overflow,
            "since": none_if_inf(self.since),
            "patterns": {
                pid: {"count": n, "errors": e, "first_seen": f}
                for pid, (n, e, f) in self.counts.items()
            },
            "first_ts": none_if_inf(self.first_ts),
            "last_ts": none_if_inf(self.last_ts),
        }

    def to_state(self) -> list[Any]:
        """lines, overflow, since, first_ts, last_ts, then id, count, errors, first seen each."""
        out: list[Any] = [
            self.lines,
            self.overflow,
            none_if_inf(self.since),
            none_if_inf(self.first_ts),
            none_if_inf(self.last_ts),
        ]
        for pid, entry in self.counts.items():
            out.append(pid)
            out.extend(entry)
        return out

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> PatternAgg:
        """Rebuild from ``to_state()`` output."""
        agg = cls()
        agg.lines, agg.overflow = int(state[0]), int(state[1])
        agg.since = inf_if_none(state[2], inf)
        agg.first_ts = inf_if_none(state[3], inf)
        agg.last_ts = inf_if_none(state[4], -inf)
        rest = state[5:]
        for i in range(0, len(rest), 4):
            pid, n, errors, first = rest[i : i + 4]
            agg.counts[str(pid)] = [int(n), int(errors), float(first)]
        return agg
