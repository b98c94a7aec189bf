"""The sink side of the pattern-id join: hold a log message until its ids are known (pure).

A sink reads the raw log topics in its own consumer group; the ids of the lines come from the
worker's ``lookout.patterns`` records (:mod:`patterns.assignments`). :class:`PatternJoin` is the
stream-table join between them, clock-free:

* :meth:`~PatternJoin.hold` a log message (input topic, partition, offset, Kafka timestamp) with
  a deadline ``wait`` seconds on (at once while its partition is *stalled*, see below);
* :meth:`~PatternJoin.add` each decoded record as the feed reads it;
* :meth:`~PatternJoin.release` hands out every held message whose ids are known: its offset is
  covered and each of its forwarded items has an id. A message past its deadline is released
  with the ids known so far and ``complete=False`` (the sink stores it, the caller counts it).

A partition whose message timed out uncovered is *stalled* (its worker is down or far behind):
its next messages do not wait, so a sink is not slowed to one batch per ``wait`` while the
worker is away; the first message of it that resolves in time ends the stall.

What the feed must read: the join *tracks* only the input partitions it holds messages of, each
from a *floor* offset on (what it knows is complete from there); records about other partitions
are dropped, so memory stays bounded by what is held and read ahead. :meth:`~PatternJoin.seeks`
says which ``lookout.patterns`` partitions must be read again from a timestamp on: a message of
an untracked partition, or below its floor (a sink that rewound). Released offsets are pruned.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from patterns.assignments import Assignment

TP = tuple[str, int]
Key = tuple[str, int, int]  # (input topic, partition, offset)


@dataclass(slots=True)
class Held:
    """A message waiting for its ids."""

    ts: int  # Kafka timestamp, ms
    since: float
    deadline: float


@dataclass(frozen=True, slots=True)
class Released:
    """A message leaving the join: its ids by item, whether they are all known, time held."""

    key: Key
    ids: dict[int, str]
    complete: bool
    waited: float


@dataclass(slots=True)
class _Known:
    """What the join knows of one tracked input partition, from ``floor`` on."""

    floor: int
    spans: list[list[int]] = field(default_factory=list)  # covered [first, last], disjoint, sorted
    ids: dict[int, dict[int, str]] = field(default_factory=dict)
    forwarded: dict[int, set[int]] = field(default_factory=dict)

    def cover(self, first: int, last: int) -> None:
        first = max(first, self.floor)
        if first > last:
            return
        spans = self.spans
        if spans and spans[-1][1] + 1 >= first and spans[-1][0] <= first:
            spans[-1][1] = max(spans[-1][1], last)
            return
        spans.append([first, last])
        spans.sort()
        merged: list[list[int]] = []
        for span in spans:
            if merged and merged[-1][1] + 1 >= span[0]:
                merged[-1][1] = max(merged[-1][1], span[1])
            else:
                merged.append(span)
        self.spans = merged

    def covered(self, offset: int) -> bool:
        n = bisect_right(self.spans, [offset, float("inf")]) - 1
        return n >= 0 and self.spans[n][0] <= offset <= self.spans[n][1]

    def resolved(self, offset: int) -> bool:
        if not self.covered(offset):
            return False
        fwd = self.forwarded.get(offset)
        if not fwd:
            return True
        ids = self.ids.get(offset, {})
        return all(item in ids for item in fwd)

    def prune(self, below: int) -> None:
        """Forget offsets below ``below`` (released)."""
        if below <= self.floor:
            return
        self.floor = below
        self.spans = [[max(a, below), b] for a, b in self.spans if b >= below]
        for table in (self.ids, self.forwarded):
            for offset in [o for o in table if o < below]:
                del table[offset]


class PatternJoin:
    """Held log messages and the assignments known for their partitions."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.held: dict[Key, Held] = {}
        self.known: dict[TP, _Known] = {}
        self.stalled: set[TP] = set()
        self._reseek: dict[int, int] = {}  # patterns partition -> timestamp to read from

    # ---- messages ------------------------------------------------------------------------
    def hold(self, topic: str, partition: int, offset: int, ts: int, now: float) -> None:
        """Hold a message until its ids are known or its deadline passes."""
        tp = (topic, partition)
        deadline = now if tp in self.stalled else now + self.wait
        self.held[(topic, partition, offset)] = Held(ts, now, deadline)
        known = self.known.get(tp)
        if known is None or offset < known.floor:
            # nothing known about it: read its partition's records again from its time on
            if known is None:
                self.known[tp] = _Known(offset)
            else:
                known.floor = offset
            prev = self._reseek.get(partition)
            self._reseek[partition] = ts if prev is None else min(prev, ts)

    def seeks(self) -> dict[int, int]:
        """``lookout.patterns`` partitions to read again from a timestamp (ms) on; once."""
        out, self._reseek = self._reseek, {}
        return out

    def needed(self) -> set[int]:
        """Partitions with held messages whose ids are not known yet."""
        return {p for (t, p, o) in self.held if not self._resolved(t, p, o)}

    def next_deadline(self) -> float | None:
        """The earliest deadline of a held message (None: nothing held)."""
        return min((h.deadline for h in self.held.values()), default=None)

    def _resolved(self, topic: str, partition: int, offset: int) -> bool:
        known = self.known.get((topic, partition))
        return known is not None and known.resolved(offset)

    def release(self, now: float) -> list[Released]:
        """Held messages whose ids are known, and those past their deadline; prunes."""
        out: list[Released] = []
        done: dict[TP, int] = {}
        for key, held in list(self.held.items()):
            topic, partition, offset = key
            tp = (topic, partition)
            known = self.known.get(tp)
            ok = known is not None and known.resolved(offset)
            if not ok and now < held.deadline:
                continue
            del self.held[key]
            ids = dict(known.ids.get(offset, {})) if known is not None else {}
            out.append(Released(key, ids, ok, now - held.since))
            if ok:
                self.stalled.discard(tp)
            elif known is None or not known.covered(offset):
                self.stalled.add(tp)
            done[tp] = max(done.get(tp, -1), offset)
        for tp, top in done.items():
            waiting = [o for (t, p, o) in self.held if (t, p) == tp]
            known = self.known.get(tp)
            if known is not None:
                known.prune(min([top + 1, *waiting]))
        return out

    # ---- assignments ---------------------------------------------------------------------
    def add(self, record: Assignment) -> None:
        """What one ``lookout.patterns`` record says, for the tracked partitions."""
        p = record.partition
        for topic, (first, last) in record.covered.items():
            known = self.known.get((topic, p))
            if known is not None:
                known.cover(first, last)
        for topic, per in record.ids.items():
            known = self.known.get((topic, p))
            if known is None:
                continue
            floor = known.floor
            for offset, items in per.items():
                if offset >= floor:
                    known.ids.setdefault(offset, {}).update(items)
        for topic, fwd in record.forwarded.items():
            known = self.known.get((topic, p))
            if known is None:
                continue
            floor = known.floor
            for offset, fitems in fwd.items():
                if offset >= floor:
                    known.forwarded.setdefault(offset, set()).update(fitems)

    def forget(self, keep: set[TP]) -> None:
        """Stop tracking input partitions not in ``keep`` (no longer this sink's) and not held."""
        held = {(t, p) for (t, p, _o) in self.held}
        for tp in [tp for tp in self.known if tp not in keep and tp not in held]:
            del self.known[tp]
            self.stalled.discard(tp)
