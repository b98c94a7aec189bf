"""What a sink holds between fetching and committing: the buffer, the batch, results (pure).

A :class:`Buffer` maps each Kafka message (``add``) with the writer's pure mapper and hands the
lot over as one :class:`Batch` (``flush``). A batch keeps one :class:`Entry` per message that
produced something to write, and the next offset to commit for *every* message it saw (also the
ones that mapped to nothing), so committing a batch never skips or re-reads a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from aiokafka.structs import TopicPartition

T = TypeVar("T")


class Message(Protocol):
    """A consumed Kafka record (aiokafka's ``ConsumerRecord`` has these attributes)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message (or item ``item`` inside it) that cannot be stored: it goes to dead letters."""

    msg: Message
    item: int | None
    detail: str


@dataclass(slots=True)
class Mapped(Generic[T]):
    """What the pure mapper made of one message: payload (None: nothing to write), problems.

    ``rejected`` are items the sink must dead-letter (the worker accepted them, the store will
    not). ``skipped`` counts parts the worker already dead-letters itself (undecodable input).
    """

    payload: T | None
    rejected: list[tuple[int | None, str]] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One message's payload inside a batch."""

    msg: Message
    payload: T


@dataclass(slots=True)
class Batch(Generic[T]):
    """Entries to write, mapping rejections, and the offsets committed once it is stored."""

    entries: list[Entry[T]] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0
    messages: int = 0
    size: int = 0

    def __len__(self) -> int:
        return len(self.entries)

    def payloads(self) -> list[T]:
        """The payloads, in message order."""
        return [entry.payload for entry in self.entries]

    def split(self) -> tuple[Batch[T], Batch[T]]:
        """Two halves of the entries (to find the message a store refuses)."""
        half = len(self.entries) // 2
        return Batch(self.entries[:half]), Batch(self.entries[half:])

    def replace(self, entries: list[Entry[T]]) -> Batch[T]:
        """A batch of ``entries`` with nothing else (a retry of some of them)."""
        return Batch(entries)

    def without(self, tps: Iterable[TopicPartition]) -> Batch[T]:
        """This batch minus everything of partitions ``tps`` (rewound: they are read again)."""
        drop = set(tps)
        return Batch(
            [e for e in self.entries if TopicPartition(e.msg.topic, e.msg.partition) not in drop],
            {tp: off for tp, off in self.offsets.items() if tp not in drop},
            [r for r in self.rejected if TopicPartition(r.msg.topic, r.msg.partition) not in drop],
            self.skipped,
            self.messages,
            self.size,
        )


@dataclass(slots=True)
class WriteResult(Generic[T]):
    """Outcome of one write: rows stored per table/index, items refused, items to retry."""

    written: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    retry: Batch[T] | None = None
    retry_reason: str = ""


class Buffer(Generic[T]):
    """Maps messages as they are added; ``flush`` hands them over as one batch."""

    def __init__(self, mapper: Callable[..., Mapped[T]]) -> None:
        self._mapper = mapper
        self._batch: Batch[T] = Batch()

    def add(self, msg: Message, patterns: Mapping[int, str] | None = None) -> None:
        """Map ``msg`` (with the pattern ids of its items, when known) and keep its payload,
        problems and offset."""
        batch = self._batch
        mapped = self._mapper(msg) if patterns is None else self._mapper(msg, patterns)
        if mapped.payload is not None:
            batch.entries.append(Entry(msg, mapped.payload))
        for item, detail in mapped.rejected:
            batch.rejected.append(Rejection(msg, item, detail))
        batch.skipped += mapped.skipped
        batch.offsets[TopicPartition(msg.topic, msg.partition)] = msg.offset + 1
        batch.messages += 1
        batch.size += len(msg.value or b"") + len(msg.key or b"")

    @property
    def size(self) -> int:
        """Bytes of the messages held (keys and values)."""
        return self._batch.size

    @property
    def messages(self) -> int:
        """Messages held."""
        return self._batch.messages

    def flush(self) -> Batch[T]:
        """Everything added since the last flush."""
        batch, self._batch = self._batch, Batch()
        return batch
