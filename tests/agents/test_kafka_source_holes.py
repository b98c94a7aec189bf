"""KafkaSource steps over a hole in a partition's log, and never over an outage or the end."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from agents.fetcher import KafkaSource

TP = TopicPartition("t.metrics", 3)


class Consumer:
    """What KafkaSource asks of aiokafka's consumer, with a scripted broker."""

    def __init__(self, position: int, highwater: int | None, polled_ms: float | None) -> None:
        self.pos = position
        self.hw = highwater
        self.polled_ms = polled_ms
        self.seeks: list[int] = []

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.hw

    def last_poll_timestamp(self, tp: TopicPartition) -> float | None:
        return self.polled_ms

    async def position(self, tp: TopicPartition) -> int:
        return self.pos

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.pos = offset


def source(consumer: Consumer, clock: list[float], holes: list[Any]) -> KafkaSource:
    src = KafkaSource(
        "127.0.0.1:1",
        "c",
        hole_after=5.0,
        on_hole=lambda tp, offset: holes.append((tp, offset)),
        clock=lambda: clock[0],
    )
    src._consumer_or_none = consumer  # type: ignore[assignment]
    src._assigned = {TP}
    return src


async def fetches(src: KafkaSource, consumer: Consumer, clock: list[float], n: int) -> None:
    """``n`` empty fetch rounds one second apart, each answered by the broker."""
    for _ in range(n):
        clock[0] += 1.0
        if consumer.polled_ms is not None:
            consumer.polled_ms = clock[0] * 1000
        await src._step_over_holes({})


async def test_a_partition_stuck_below_its_high_watermark_is_stepped_over_the_hole() -> None:
    clock, holes = [1000.0], []
    consumer = Consumer(position=60, highwater=200, polled_ms=1000.0 * 1000)
    src = source(consumer, clock, holes)
    await fetches(src, consumer, clock, 4)
    assert consumer.seeks == []  # not yet: a slow fetch is not a hole
    await fetches(src, consumer, clock, 3)
    assert consumer.seeks == [61, 62]  # then one offset per fetch round
    assert holes == [(("t.metrics", 3), 60), (("t.metrics", 3), 61)]
    # records arrive again: the partition is no longer stalled
    await src._step_over_holes({TP: [object()]})
    await fetches(src, consumer, clock, 2)
    assert consumer.seeks == [61, 62]


async def test_a_broker_that_does_not_answer_never_makes_a_hole() -> None:
    clock, holes = [1000.0], []
    consumer = Consumer(position=60, highwater=200, polled_ms=900.0 * 1000)  # 100 s ago
    src = source(consumer, clock, holes)
    consumer.polled_ms = 900.0 * 1000
    for _ in range(30):
        clock[0] += 1.0
        await src._step_over_holes({})
    assert consumer.seeks == [] and holes == []


async def test_a_caught_up_partition_is_not_a_hole() -> None:
    clock, holes = [1000.0], []
    consumer = Consumer(position=200, highwater=200, polled_ms=1000.0 * 1000)
    src = source(consumer, clock, holes)
    await fetches(src, consumer, clock, 30)
    assert consumer.seeks == [] and holes == []


async def test_no_high_watermark_yet_is_not_a_hole() -> None:
    clock, holes = [1000.0], []
    consumer = Consumer(position=0, highwater=None, polled_ms=None)
    src = source(consumer, clock, holes)
    await fetches(src, consumer, clock, 30)
    assert consumer.seeks == [] and holes == []
