"""What a sink's writer provides to :class:`sinks.runner.SinkRunner`.

A writer pairs a pure mapper (Kafka message -> rows or documents) with the one method that does
I/O, ``write``. Everything else (buffering, batching, retries, dead letters, offsets) is the
runner's, so the Postgres and Elasticsearch writers stay small and are tested the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, TypeVar

from aiokafka.structs import TopicPartition

from sinks.batch import Batch, Mapped, Message, WriteResult

T = TypeVar("T")


class Writer(Protocol[T]):
    """A sink's mapper and store."""

    name: str
    topics: tuple[str, ...]

    async def setup(self) -> None:
        """Create clients (no I/O that can fail: a store that is down is met in ``write``)."""

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Before a batch is mapped: make current what the pure mapper reads (the sinks'
        host->tenant map); raise when it cannot, and the runner tries again with backoff."""

    def map(self, msg: Message) -> Mapped[T]:
        """Pure mapping of one Kafka message to what this sink stores. A sink of log lines that
        joins pattern ids (sinks/pattern_feed.py) also takes ``patterns``, the pattern id of
        each mined item of the message."""

    async def write(self, batch: Batch[T]) -> WriteResult[T]:
        """Store the batch idempotently; raise ``SinkError``/client errors when it cannot."""

    async def lost(self, tps: Collection[TopicPartition]) -> set[TopicPartition]:
        """Of ``tps``, the partitions whose earlier writes the store no longer holds.

        For them the runner rewinds the group to the start of the partition (committing that
        first, so a crash does not forget the rewind) and calls :meth:`mark`.
        """

    async def mark(self, tps: Collection[TopicPartition]) -> None:
        """Remember in the store that it holds what it gets for ``tps`` from now on."""

    async def maintain(self) -> None:
        """Periodic upkeep (e.g. delete old indices); errors are logged, never fatal."""

    async def close(self) -> None:
        """Release clients."""
