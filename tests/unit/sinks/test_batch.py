"""Buffer and batch bookkeeping: offsets of every message, split, partitions dropped."""

from __future__ import annotations

from aiokafka.structs import TopicPartition

from sinks.batch import Buffer, Mapped
from tests.unit.sinks.fakes import TP0, TP1, Rec, log_of


def mapper(msg: Rec) -> Mapped[bytes]:  # type: ignore[misc]
    if msg.value == b"none":
        return Mapped(None)
    if msg.value == b"bad":
        return Mapped(None, rejected=[(2, "no")], skipped=1)
    return Mapped(msg.value)


def test_buffer_keeps_offsets_of_every_message() -> None:
    buf: Buffer[bytes] = Buffer(mapper)  # type: ignore[arg-type]
    for rec in log_of(TP0, b"a", b"none", b"bad") + log_of(TP1, b"z"):
        buf.add(rec)
    assert buf.messages == 4
    assert buf.size == 4 * len(b"k") + len(b"a" + b"none" + b"bad" + b"z")
    batch = buf.flush()
    assert batch.payloads() == [b"a", b"z"]
    assert batch.offsets == {TP0: 3, TP1: 1}
    assert [(r.msg.offset, r.item, r.detail) for r in batch.rejected] == [(2, 2, "no")]
    assert batch.skipped == 1
    assert buf.flush().messages == 0


def test_split_and_without() -> None:
    buf: Buffer[bytes] = Buffer(mapper)  # type: ignore[arg-type]
    for rec in log_of(TP0, b"a", b"b", b"bad") + log_of(TP1, b"c"):
        buf.add(rec)
    batch = buf.flush()
    left, right = batch.split()
    assert (left.payloads(), right.payloads()) == ([b"a"], [b"b", b"c"])
    kept = batch.without([TP0])
    assert kept.payloads() == [b"c"]
    assert kept.offsets == {TP1: 1}
    assert kept.rejected == []
    assert batch.without([TopicPartition("other", 0)]).offsets == batch.offsets
