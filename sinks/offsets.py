"""A sink group's offsets: commit after a write, rewind partitions the store lost, lag."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.structs import TopicPartition

# The group moved on (a rebalance): the new owner replays from the last commit, idempotently.
COMMIT_SKIPPABLE = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalStateError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownMemberIdError,
    kafka_errors.IllegalGenerationError,
)


class GroupOffsets:
    """Offset bookkeeping of one consumer (aiokafka's, or a fake with the same methods)."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.committed: dict[TopicPartition, int] = {}

    def assigned(self) -> set[TopicPartition]:
        """Partitions the consumer owns now (none while it is not in the group)."""
        try:
            return set(self.consumer.assignment())
        except kafka_errors.IllegalStateError:
            return set()

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit ``offsets`` of partitions still owned; False if the group refused after a
        rebalance (skipped). Other Kafka errors propagate (transient: retry)."""
        assigned = self.assigned()
        mine = {tp: off for tp, off in offsets.items() if tp in assigned}
        if not mine:
            return True
        try:
            await self.consumer.commit(mine)
        except COMMIT_SKIPPABLE:
            return False
        self.committed.update(mine)
        return True

    async def reset(self) -> None:
        """Seek every owned partition back to its last commit (its start if never committed).

        aiokafka's ``seek_to_committed`` leaves never-committed partitions where they are, which
        would skip what was fetched but not stored; this does not.
        """
        tps = sorted(self.assigned())
        if not tps:
            return
        begin = await self.consumer.beginning_offsets(tps)
        for tp in tps:
            offset = await self.consumer.committed(tp)
            self.consumer.seek(tp, offset if offset is not None else begin[tp])

    async def rewind(self, lost: set[TopicPartition]) -> set[TopicPartition]:
        """Rewind the ``lost`` partitions this group had committed past their start.

        The start offset is committed before seeking, so a crash during the rewrite resumes the
        rewrite. Partitions never committed (a new group) need nothing: they are read from the
        start anyway. Returns the partitions rewound.
        """
        done: dict[TopicPartition, int] = {}
        for tp in sorted(lost):
            offset = await self.consumer.committed(tp)
            if offset is not None:
                done[tp] = offset
        begin = await self.consumer.beginning_offsets(sorted(done)) if done else {}
        rewind = {tp for tp, offset in done.items() if offset > begin[tp]}
        if rewind:
            await self.consumer.commit({tp: begin[tp] for tp in rewind})
            for tp in rewind:
                self.consumer.seek(tp, begin[tp])
                self.committed[tp] = begin[tp]
        return rewind

    async def lag(self) -> int | None:
        """Messages of owned partitions past the last commit (end offsets are understated on
        Tansu, so this is approximate there); None when it cannot be known now."""
        assigned = self.assigned()
        if not assigned:
            return None
        try:
            ends = await self.consumer.end_offsets(sorted(assigned))
        except Exception:
            return None
        total = 0
        for tp, end in ends.items():
            done = self.committed.get(tp)
            if done is None:
                with contextlib.suppress(Exception):
                    done = await self.consumer.committed(tp)
            total += max(0, end - (done or 0))
        return total
