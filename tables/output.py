"""Where the window store's writes go: Faust's producer in a worker, a recorder in agent tests.

The store decides *what* to write and in which order; an :class:`Output` only writes. Keeping
this seam thin lets the agent tier run the real ingest path (fetcher -> pipeline -> store)
in-process with :class:`RecordingOutput`, no broker needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import faust

ORIGIN_HEADER = "lookout-origin"  # on a forwarded message: its original position (agents/pipeline)


class Output(Protocol):
    """The writes the window store and pipeline make."""

    def changelog(self, partition: int, key: bytes, value: bytes | None) -> Awaitable[Any]:
        """Queue a state write (``None``: delete) to the table changelog partition."""

    async def changelog_many(
        self, records: Sequence[tuple[int, bytes, bytes | None]]
    ) -> Awaitable[Any]:
        """Queue state writes ``(partition, key, value or None)`` in order; the returned
        awaitable resolves when all are stored."""

    async def send_windows(self, records: Sequence[tuple[bytes, bytes, int]]) -> Awaitable[Any]:
        """Queue final window records ``(key, value, partition)``; the returned awaitable
        resolves when all are stored."""

    async def alert(self, key: bytes, value: bytes, partition: int) -> Awaitable[Any]:
        """Queue an alert transition or ack record; resolves when stored."""

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        """Send a dead-letter record."""

    async def rekey(
        self, key: bytes | None, value: bytes, partition: int, *, origin: bytes | None = None
    ) -> None:
        """Forward a message to the partition that owns its host (``origin``: its original
        position, sent as the ``lookout-origin`` header)."""

    async def send_patterns(
        self, records: Sequence[tuple[int, bytes, bytes, int]]
    ) -> Awaitable[Any]:
        """Queue ``lookout.patterns`` records ``(partition, key, value, timestamp ms)``; the
        returned awaitable resolves when all are stored."""

    async def barrier(self) -> None:
        """Wait until everything queued so far is acknowledged by the broker."""

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Re-read an input partition from ``offset`` (a hole in delivery: tables/ordering.py)."""

    def read_offsets(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the consumer's read offset (last record handed out)."""


class InputPositions(Protocol):
    """Who reads the input partitions (agents/fetcher.py): seeks and read offsets."""

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Re-read a partition from ``offset``."""

    def read_offsets(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the last offset handed to the pipeline."""


class FaustOutput:
    """Writes through the worker's Faust producer and topics."""

    #: The input reader, set when it starts (agents/fetcher.py); seeks go to it.
    inputs: InputPositions | None = None

    def __init__(
        self,
        app: faust.App,
        table: Any,
        windows: Any,
        deadletter: Any,
        rekey: Any,
        alerts: Any,
        patterns: Any = None,
    ) -> None:
        self.app = app
        self.patterns_topic = patterns
        self.table = table
        self.alerts_topic = alerts
        self.windows_topic = windows
        self.deadletter_topic = deadletter
        self.rekey_topic = rekey

    def changelog(self, partition: int, key: bytes, value: bytes | None) -> Awaitable[Any]:
        """Explicit partition: the host's source partition, not the current event's."""
        return self.table.send_changelog(partition, key, value, None, "raw")  # type: ignore[no-any-return]

    async def changelog_many(
        self, records: Sequence[tuple[int, bytes, bytes | None]]
    ) -> Awaitable[Any]:
        """A flush's state writes as one producer batch per changelog partition, in order.

        Faust's ``send_changelog`` costs a ``send_soon``, a buffer hop and a ``publish_message``
        per record (about a tenth of the worker's CPU at one pane write per host and batch);
        its only side effect, the persisted offset, is a no-op for the memory store Lookout
        uses (recovery reads the changelog from the start). Order within a partition is kept:
        aiokafka sends one batch per partition at a time.
        """
        name = self.table.changelog_topic.get_topic_name()
        return await self._send_batches(name, [(p, k, v, None) for p, k, v in records])

    async def send_windows(self, records: Sequence[tuple[bytes, bytes, int]]) -> Awaitable[Any]:
        """Send final records to ``lookout.windows`` as one record batch per partition.

        Each final is still its own Kafka record; only the producer call is per batch
        (aiokafka ``create_batch``/``send_batch``). One ``send`` per final cost about a fifth of
        a batch-format run (a future, a metadata lookup and an accumulator append per record);
        Faust's ``Topic.send`` cost more again.
        """
        name = self.windows_topic.get_topic_name()
        return await self._send_batches(
            name, [(partition, key, value, None) for key, value, partition in records]
        )

    async def send_patterns(
        self, records: Sequence[tuple[int, bytes, bytes, int]]
    ) -> Awaitable[Any]:
        """Send ``lookout.patterns`` records with their explicit timestamps."""
        return await self._send_batches(self.patterns_topic.get_topic_name(), records)

    async def _send_batches(
        self, name: str, records: Sequence[tuple[int, bytes, bytes | None, int | None]]
    ) -> Awaitable[Any]:
        """Records ``(partition, key, value, timestamp ms or None)`` as one producer batch per
        partition (each still its own Kafka record)."""
        # the aiokafka producer behind Faust's (a private method; faust-streaming is pinned <0.16)
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        by_partition: dict[int, list[tuple[bytes, bytes | None, int | None]]] = {}
        for partition, key, value, ts in records:
            by_partition.setdefault(partition, []).append((key, value, ts))
        futs = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value, ts in items:
                if batch.append(key=key, value=value, timestamp=ts) is None:  # full
                    futs.append(await producer.send_batch(batch, name, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=ts) is None:
                        size = len(value or b"")
                        raise ValueError(f"record of {size} bytes exceeds a batch ({name})")
            batch.close()
            futs.append(await producer.send_batch(batch, name, partition=partition))
        return asyncio.gather(*futs)

    async def alert(self, key: bytes, value: bytes, partition: int) -> Awaitable[Any]:
        """Send to ``lookout.alerts`` straight through the producer."""
        name = self.alerts_topic.get_topic_name()
        return await self.app.producer.send(name, key, value, partition, None, None)

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        """Send to ``lookout.deadletter``."""
        await self.deadletter_topic.send(key=key, value=value)

    async def rekey(
        self, key: bytes | None, value: bytes, partition: int, *, origin: bytes | None = None
    ) -> None:
        """Send to ``lookout.rekey`` (with the ``lookout-origin`` header when given)."""
        headers = [(ORIGIN_HEADER, origin)] if origin is not None else None
        await self.rekey_topic.send(key=key, value=value, partition=partition, headers=headers)

    async def barrier(self) -> None:
        """Flush Faust's producer."""
        await self.app.producer.flush()

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Ask the input reader to re-read a partition from ``offset``."""
        if self.inputs is not None:
            await self.inputs.seek(topic, partition, offset)

    def read_offsets(self) -> dict[tuple[str, int], int]:
        """The input reader's last offsets handed to the pipeline (none before it starts)."""
        return self.inputs.read_offsets() if self.inputs is not None else {}


class RecordingOutput:
    """Keeps every write in memory, in order (agent tests)."""

    def __init__(self) -> None:
        self.changelogs: list[tuple[int, bytes, bytes | None]] = []
        self.windows: list[tuple[bytes, bytes, int]] = []
        self.alerts: list[tuple[bytes, bytes, int]] = []
        self.dead_letters: list[tuple[bytes | None, bytes]] = []
        self.rekeyed: list[tuple[bytes | None, bytes, int]] = []
        self.origins: list[bytes | None] = []  # the origin header of each rekeyed message
        self.patterns: list[tuple[int, bytes, bytes, int]] = []
        self.seeks: list[tuple[str, int, int]] = []
        self.delivered: dict[tuple[str, int], int] = {}  # what read_offsets() answers
        self.barriers = 0

    def changelog(self, partition: int, key: bytes, value: bytes | None) -> Awaitable[Any]:
        """Record a state write."""
        self.changelogs.append((partition, key, value))
        return _done()

    async def changelog_many(
        self, records: Sequence[tuple[int, bytes, bytes | None]]
    ) -> Awaitable[Any]:
        """Record state writes, in order."""
        self.changelogs.extend(records)
        return _done()

    async def send_windows(self, records: Sequence[tuple[bytes, bytes, int]]) -> Awaitable[Any]:
        """Record final window records."""
        self.windows.extend(records)
        return _done()

    async def alert(self, key: bytes, value: bytes, partition: int) -> Awaitable[Any]:
        """Record an alert record."""
        self.alerts.append((key, value, partition))
        return _done()

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        """Record a dead letter."""
        self.dead_letters.append((key, value))

    async def rekey(
        self, key: bytes | None, value: bytes, partition: int, *, origin: bytes | None = None
    ) -> None:
        """Record a forwarded message."""
        self.rekeyed.append((key, value, partition))
        self.origins.append(origin)

    async def send_patterns(
        self, records: Sequence[tuple[int, bytes, bytes, int]]
    ) -> Awaitable[Any]:
        """Record ``lookout.patterns`` records."""
        self.patterns.extend(records)
        return _done()

    async def barrier(self) -> None:
        """Count barriers."""
        self.barriers += 1

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Record a seek."""
        self.seeks.append((topic, partition, offset))

    def read_offsets(self) -> dict[tuple[str, int], int]:
        """What the test set in ``delivered``."""
        return dict(self.delivered)


def _done() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut
