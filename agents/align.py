"""Event-time alignment of the input partitions across fetches.

Why. A host's log series have one clock, the smallest watermark of the topics that feed them
(nginx and app logs, ``tables/queries.series_clock``), and open-window alert rules are evaluated
each time that clock enters a new tick; ticks only move forward. When a backlog is fetched (a
catch-up after downtime, a replay), the client can hand out minutes of one topic's partition
before the first record of the other: the clock then follows the first topic alone, the ticks
run to its end, and when the other topic's records arrive the clock steps back and the rules
never see the windows those records fill. An error spike in the nginx lines then fires nothing.
Interleaving each batch by timestamp is not enough: the batches themselves are lopsided.

What. Kafka Streams' answer for a task's co-partitioned inputs, applied per partition number
(a host is keyed to the same partition number in every input topic, so partition ``k`` of all
inputs is one group of clocks): records are handed to the pipeline in timestamp order within a
group, and a record is held back while another partition of its group is *lagging* (the high
watermark the last fetch response carried is past what was received from it) and its last
received timestamp is older: that partition's next records may be older than the held one.
The order used is the records' Kafka timestamps (the produce time unless the producer sets
one), which rise within a partition and across topics as the producers wrote them, and are
known before a record is decoded; a partition that is caught up holds nobody.

Bounds.
- Time: a lagging partition holds its group back at most ``max_wait`` seconds; then it stops
  counting until its next record arrives (a stalled fetch, a partition whose records were all
  deleted, transaction markers that keep the high watermark past the last record). Counted in
  ``timeouts``; Kafka Streams calls this ``max.task.idle.ms``. A partition paused here (below)
  is not stalled: its wait starts only once it is resumed.
- Memory: a partition with ``hold_max`` or more records held is paused at the source (the client
  stops fetching it, so it hands out the lagging partition instead) and resumed once released.
- Nothing is lost or applied twice: held records are not applied, so the window state's
  position (which a restart or a new owner reads from) stays before them; ``reset`` and
  ``seeked`` drop what was held, and the source refetches it from the position.

The class is pure (no I/O, time passed in), so every path is unit-tested
(tests/unit/agents/test_align.py).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TPKey = tuple[str, int]

NEVER = float("-inf")


def timestamp(record: Any) -> int:
    """A record's Kafka timestamp in ms (0 when it has none: it sorts first)."""
    return int(record.timestamp or 0)


def merge(parts: Sequence[Sequence[Any]]) -> list[Any]:
    """Records of several partitions interleaved by timestamp, each partition's order kept."""
    if len(parts) == 1:
        return list(parts[0])
    return list(heapq.merge(*parts, key=timestamp))


class InputAligner:
    """Buffers fetched records and releases them aligned in event time within a partition
    number; see the module docstring."""

    def __init__(self, max_wait: float, hold_max: int) -> None:
        self.max_wait = max_wait
        self.hold_max = max(1, hold_max)
        self._held: dict[TPKey, list[Any]] = {}
        # next offset to receive per tracked partition (None: not known, e.g. from the start)
        self._next: dict[TPKey, int | None] = {}
        self._last_ts: dict[TPKey, float] = {}  # last timestamp received per partition
        self._waiting: dict[TPKey, float] = {}  # a lagging partition holds others since then
        self._expired: set[TPKey] = set()  # waited on for max_wait: ignored until it delivers
        self.paused: set[TPKey] = set()
        self.timeouts = 0  # waits given up after max_wait

    # ---- what the fetcher tells it ------------------------------------------------------------
    def reset(self, tps: Iterable[TPKey]) -> None:
        """A new assignment: forget everything held, track exactly ``tps``."""
        self._held.clear()
        self._next = {tp: None for tp in tps}
        self._last_ts.clear()
        self._waiting.clear()
        self._expired.clear()
        self.paused.clear()

    def seeked(self, tp: TPKey, offset: int) -> None:
        """``tp`` is read again from ``offset`` (-1: the beginning): drop what it held."""
        if tp not in self._next:
            return
        self._held.pop(tp, None)
        self._next[tp] = offset if offset >= 0 else None
        self._last_ts.pop(tp, None)  # what it hands out next may be older than what it had
        self._waiting.pop(tp, None)
        self._expired.discard(tp)

    @property
    def held(self) -> int:
        """Records fetched and not yet released."""
        return sum(len(h) for h in self._held.values())

    # ---- the step -----------------------------------------------------------------------------
    def push(
        self, parts: Mapping[TPKey, Sequence[Any]], highwaters: Mapping[TPKey, int], now: float
    ) -> list[Any]:
        """Add what a fetch returned (per partition, offset order); return what may be applied,
        in timestamp order within each group (each partition's offset order kept)."""
        held = self._held
        nxt = self._next
        for tp, recs in parts.items():
            if not recs or tp not in nxt:
                continue  # a partition no longer tracked (a fetch raced a revoke): refetched
            have = held.get(tp)
            if have:
                have.extend(recs)
            else:
                held[tp] = list(recs)
            last = recs[-1]
            nxt[tp] = last.offset + 1
            self._last_ts[tp] = timestamp(last)
            self._waiting.pop(tp, None)
            self._expired.discard(tp)
        if not held:
            return []
        limits, holders = self._limits(highwaters, now)
        out: list[list[Any]] = []
        for tp in sorted(held):
            recs = held[tp]
            limit = limits.get(tp[1])
            if limit is None:
                out.append(recs)
                del held[tp]
                continue
            cut = bisect_right(recs, limit, key=timestamp)
            if cut:
                out.append(recs[:cut])
            if cut == len(recs):
                del held[tp]
            else:
                held[tp] = recs[cut:]
                for waited in holders[tp[1]]:
                    if waited not in self.paused:
                        self._waiting.setdefault(waited, now)
        return merge(out) if out else []

    def _limits(
        self, highwaters: Mapping[TPKey, int], now: float
    ) -> tuple[dict[int, float], dict[int, list[TPKey]]]:
        """Per partition number, the timestamp no released record may pass (the oldest last
        timestamp of its lagging partitions), and those lagging partitions (their waits start
        when they hold something back)."""
        limits: dict[int, float] = {}
        holders: dict[int, list[TPKey]] = {}
        waiting = self._waiting
        for tp, nxt in self._next.items():
            if tp in self._expired:
                continue
            end = highwaters.get(tp)
            if end is not None and end <= (nxt or 0):
                waiting.pop(tp, None)  # caught up: its next record is not written yet
                continue
            since = waiting.get(tp)
            if tp in self.paused:  # stopped here, not stalled: it cannot deliver until released
                waiting.pop(tp, None)
            elif since is not None and now - since >= self.max_wait:
                del waiting[tp]
                self._expired.add(tp)
                self.timeouts += 1
                continue
            group = tp[1]
            limit = self._last_ts.get(tp, NEVER)
            if limit < limits.get(group, float("inf")):
                limits[group] = limit
            holders.setdefault(group, []).append(tp)
        return limits, holders

    def pauses(self) -> tuple[set[TPKey], set[TPKey]]:
        """Partitions to pause (``hold_max`` or more held) and to resume (released) at the
        source since the last call."""
        full = {tp for tp, recs in self._held.items() if len(recs) >= self.hold_max}
        pause = full - self.paused
        resume = self.paused - full
        self.paused = full
        return pause, resume
