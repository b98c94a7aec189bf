"""Delivery order per input partition: the applied offsets of a partition stay a contiguous prefix.

Why this exists. Window state skips a replayed record when its offset is at or below what its
host has applied (``WindowEngine.seen``). That is exact only if every partition's records are
applied in offset order without holes. Faust does not guarantee it: during recovery it fetches
stream partitions early, and when the recovery ends it seeks to the committed offsets and then
clears its stream queues (``FlowControlEvent.resume``). Records that were queued at that moment
are dropped; the consumer goes on with the rest of the batch it had fetched (so the agent sees
offset 95, then 126), marks the skipped range as done (``Consumer._add_gap``), and discards the
re-fetched copies as already read. Seen in the kill -9 test under load: one pane of every host
of five partitions never applied.

The guard admits a record only if it follows the last admitted one of its partition (or comes
earlier: a re-delivery). After a hole it *holds* (does not admit) every later record and asks
the caller to seek the partition back to the hole; the re-delivery then fills it in order.
A hole that is really in the log (transaction markers, a compacted topic) comes back at the same
place on two re-deliveries and is then accepted. The last admitted offset per partition (the
*prefix*) is made durable with the window state, so a restart resumes from the state's own
position, not from Faust's committed offset (which may have been moved past a hole).

Pure logic: the caller passes ``now`` and does the seeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TPKey = tuple[str, int]  # (topic, partition)

# A hole seen at the same place on this many re-deliveries is a hole in the log itself.
CONFIRMATIONS = 2


@dataclass
class Gap:
    """An open hole in one partition's delivery."""

    expected: int  # the first offset not delivered (where to seek)
    first: int  # the first offset delivered after the hole
    max_seen: int  # the highest offset held since the hole opened
    seek_due: bool = True
    sought_at: float | None = None
    confirmations: int = 0


class OrderGuard:
    """Admits records in offset order per partition; holds and asks for a seek after a hole."""

    def __init__(self, retry: float = 1.0) -> None:
        self.retry = retry  # seconds before asking again for a seek that brought nothing back
        self._last: dict[TPKey, int] = {}
        self._gaps: dict[TPKey, Gap] = {}
        self.held = 0  # records held (not admitted), for metrics
        self.opened = 0  # holes detected
        self.accepted_holes = 0  # holes found to be in the log itself

    # ---- state ---------------------------------------------------------------------------
    def reset(self, prefixes: Mapping[TPKey, int], keep_partitions: Iterable[int]) -> None:
        """After a rebalance: keep partitions still owned, take the larger of the in-memory and
        the durable prefix, and forget open holes (Faust re-seeks on a rebalance anyway)."""
        keep = set(keep_partitions)
        last = {tp: off for tp, off in self._last.items() if tp[1] in keep}
        for tp, off in prefixes.items():
            if tp[1] in keep and off > last.get(tp, -1):
                last[tp] = off
        self._last = last
        self._gaps.clear()

    def prefix(self, tp: TPKey) -> int | None:
        """The last admitted offset of ``tp`` (every earlier record was admitted)."""
        return self._last.get(tp)

    def prefixes(self, partition: int) -> dict[str, int]:
        """Last admitted offset per topic for one partition number (for the durable marker)."""
        return {topic: off for (topic, p), off in self._last.items() if p == partition}

    def gaps(self) -> dict[TPKey, Gap]:
        """Open holes (a copy of the mapping)."""
        return dict(self._gaps)

    # ---- decisions -----------------------------------------------------------------------
    def admit(self, tp: TPKey, offset: int) -> bool:
        """True if the record at ``offset`` may be applied now; False: held until re-delivered."""
        gap = self._gaps.get(tp)
        if gap is not None:
            return self._while_open(tp, gap, offset)
        last = self._last.get(tp)
        if last is None or offset <= last + 1:
            self._last[tp] = offset
            return True
        self._gaps[tp] = Gap(expected=last + 1, first=offset, max_seen=offset)
        self.opened += 1
        self.held += 1
        return False

    def _while_open(self, tp: TPKey, gap: Gap, offset: int) -> bool:
        if offset > gap.max_seen:  # still the batch that jumped, or newer records
            gap.max_seen = offset
            self.held += 1
            return False
        # a re-delivery (after a seek): it must start at or before the hole
        if offset <= gap.expected:
            del self._gaps[tp]
            self._last[tp] = offset
            return True
        if offset == gap.first:
            gap.confirmations += 1
            if gap.confirmations >= CONFIRMATIONS:  # the log itself has no records there
                del self._gaps[tp]
                self._last[tp] = offset
                self.accepted_holes += 1
                return True
        # re-delivered from inside the hole, or not yet confirmed: ask again
        gap.seek_due = True
        self.held += 1
        return False

    def check_delivered(self, delivered: Mapping[TPKey, int]) -> list[TPKey]:
        """Open a hole where the consumer handed out records the agent never received.

        ``delivered``: per partition, the consumer's read offset (the last record it put on the
        stream, or the offset it was last sought to). Call it only while the agent has been idle
        (nothing queued), so a read offset more than one past the last admitted record means the
        tail of a batch was dropped, which no later record will reveal if none arrives. One past
        is not enough evidence: after a seek the read offset is the *next* record to read.
        """
        opened = []
        for tp, pos in delivered.items():
            last = self._last.get(tp)
            if last is None or tp in self._gaps or pos <= last + 1:
                continue
            self._gaps[tp] = Gap(expected=last + 1, first=pos, max_seen=pos)
            self.opened += 1
            opened.append(tp)
        return opened

    def seeks_due(self, now: float) -> list[tuple[TPKey, int, bool]]:
        """(partition, offset, first) to seek to now: new holes, failed re-deliveries, slow
        ones; ``first`` is True for a hole's first seek."""
        due = []
        for tp, gap in self._gaps.items():
            stale = gap.sought_at is not None and now - gap.sought_at >= self.retry
            if gap.seek_due or stale:
                due.append((tp, gap.expected, gap.sought_at is None))
                gap.seek_due = False
                gap.sought_at = now
        return due

    def forget(self, tp: TPKey) -> None:
        """Drop a partition (no longer assigned)."""
        self._last.pop(tp, None)
        self._gaps.pop(tp, None)
