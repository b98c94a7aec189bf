"""Fakes for the sink runner: an in-memory consumer, writer and dead-letter sender."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import TopicPartition

from sinks.batch import Batch, Mapped, Message, WriteResult
from sinks.errors import Failure, SinkError

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


@dataclass(frozen=True)
class Rec:
    """A consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 1_700_000_000_000


def log_of(tp: TopicPartition, *values: bytes) -> list[Rec]:
    """Records of one partition, offsets from 0."""
    return [Rec(tp.topic, tp.partition, i, b"k", v) for i, v in enumerate(values)]


class FakeConsumer:
    """Partitions held in memory; positions, commits and seeks recorded."""

    def __init__(
        self,
        logs: dict[TopicPartition, list[Rec]],
        committed: dict[TopicPartition, int] | None = None,
    ) -> None:
        self.logs = logs
        self.committed_offsets = dict(committed or {})
        self.positions = {tp: self.committed_offsets.get(tp, 0) for tp in logs}
        self.assigned = set(logs)
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.listener: Any = None
        self.fetches = 0
        self.stopped = False
        self.commit_errors: list[BaseException] = []

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.listener = listener

    async def start(self) -> None:
        if self.listener is not None:
            await self.listener.on_partitions_assigned(set(self.assigned))

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.fetches += 1
        out: dict[TopicPartition, list[Rec]] = {}
        budget = max_records or 10**9
        for tp in sorted(self.assigned):
            pos = self.positions[tp]
            chunk = self.logs[tp][pos : pos + budget]
            if chunk:
                out[tp] = chunk
                self.positions[tp] = pos + len(chunk)
                budget -= len(chunk)
            if budget <= 0:
                break
        if not out:
            await asyncio.sleep(min(timeout_ms, 5) / 1000)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.commits.append(dict(offsets))
        self.committed_offsets.update(offsets)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in tps}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.positions[tp] = offset


class FakeWriter:
    """Stores message values; scripted failures; ``b"poison"`` is refused as bad data."""

    name = "fake"
    topics = ("t",)

    def __init__(self) -> None:
        self.stored: list[bytes] = []
        self.calls: list[list[bytes]] = []
        self.failures: list[BaseException] = []
        self.lost_once: set[TopicPartition] = set()
        self.marked: list[set[TopicPartition]] = []
        self.retry_once: set[bytes] = set()
        self.reject_items: set[bytes] = set()
        self.closed = False
        self.prepared: list[int] = []  # batch sizes handed to prepare()
        self.prepare_failures: list[BaseException] = []

    async def setup(self) -> None:
        pass

    async def prepare(self, messages: Sequence[Message]) -> None:
        self.prepared.append(len(messages))
        if self.prepare_failures:
            raise self.prepare_failures.pop(0)

    def map(self, msg: Message) -> Mapped[bytes]:
        value = msg.value or b""
        if value == b"skip":
            return Mapped(None, skipped=1)
        if value == b"unmappable":
            return Mapped(None, rejected=[(0, "cannot map")])
        return Mapped(value)

    async def write(self, batch: Batch[bytes]) -> WriteResult[bytes]:
        values = batch.payloads()
        self.calls.append(values)
        if self.failures:
            raise self.failures.pop(0)
        if b"poison" in values:
            raise SinkError(Failure.BAD_DATA, "poison refused")
        result: WriteResult[bytes] = WriteResult()
        retry = []
        for entry in batch.entries:
            if entry.payload in self.retry_once:
                self.retry_once.discard(entry.payload)
                retry.append(entry)
            elif entry.payload in self.reject_items:
                from sinks.batch import Rejection

                result.rejected.append(Rejection(entry.msg, 3, "item refused"))
            else:
                self.stored.append(entry.payload)
        result.written = {"t": len(values) - len(retry) - len(result.rejected)}
        if retry:
            result.retry = batch.replace(retry)
            result.retry_reason = "HTTP 429"
        return result

    async def lost(self, tps: Collection[TopicPartition]) -> set[TopicPartition]:
        lost, self.lost_once = self.lost_once & set(tps), set()
        return lost

    async def mark(self, tps: Collection[TopicPartition]) -> None:
        self.marked.append(set(tps))

    async def maintain(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


class FakeDeadLetters:
    """Records what would go to the dead-letter topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.failures: list[BaseException] = []

    async def send(self, sink: str, rejections: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.extend((sink, r) for r in rejections)


class RecordingBackoff:
    """Zero-length delays; records the attempts asked for."""

    cap = 0.0

    def __init__(self) -> None:
        self.attempts: list[int] = []

    def delay(self, attempt: int) -> float:
        self.attempts.append(attempt)
        return 0.0
