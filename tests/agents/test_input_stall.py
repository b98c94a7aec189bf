"""The fetcher's watchdog: an owned input partition that stops being fetched (while the broker
holds records past its applied offset) is logged, counted and re-seeked, and its records are
then applied; a partition that is merely quiet or keeps moving is left alone."""

from __future__ import annotations

import logging

import orjson
import pytest

from agents.fetcher import InputFetcher
from devtools.bench.memory import memory_worker

T0 = 1_800_000_000


def metric(host: str, ts: int) -> bytes:
    return orjson.dumps(
        {"name": "cpu", "tags": {"host": host}, "fields": {"usage": 1.0}, "timestamp": ts}
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def drain(fetcher: InputFetcher) -> None:
    while await fetcher.fetch_once():
        pass


async def test_a_stalled_partition_is_reseeked_after_the_allowance_and_catches_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lk, _out, source, fetcher = memory_worker({"LOOKOUT_APP_ID": "stall-test"})
    lk.store._recovered()
    clock = Clock()
    fetcher.clock, fetcher.stall_after = clock, 30.0
    topic = lk.topics.metrics
    tp = (topic, 0)
    for i in range(5):
        source.put(topic, metric("h1", T0 + i), b"h1")
    await drain(fetcher)
    assert lk.store.order.prefix(tp) == 4

    # the client stops fetching the partition; the broker keeps taking records
    source.stalled.add(tp)
    for i in range(5, 12):
        source.put(topic, metric("h1", T0 + i), b"h1")
    await drain(fetcher)
    assert lk.store.order.prefix(tp) == 4
    assert await fetcher.check_stalls() == []  # first sight: the allowance starts now
    clock.now += 29.0
    assert await fetcher.check_stalls() == []  # not yet
    assert lk.stats.total("lookout_input_stalls_total") == 0

    clock.now += 1.0
    with caplog.at_level(logging.WARNING, logger="agents.fetcher"):
        assert await fetcher.check_stalls() == [tp]
    assert "stalled: nothing read past offset 5 for 30 s while the broker holds up to 12" in (
        caplog.text
    )
    assert source.seeks[-1] == (tp, 5)
    assert lk.stats.total("lookout_input_stalls_total") == 1
    await drain(fetcher)
    assert lk.store.order.prefix(tp) == 11  # every record the broker held is applied
    assert lk.stats.total("lookout_records_in_total") == 12  # each once


async def test_quiet_or_moving_partitions_are_never_reseeked() -> None:
    lk, _out, source, fetcher = memory_worker({"LOOKOUT_APP_ID": "stall-test-2"})
    lk.store._recovered()
    clock = Clock()
    fetcher.clock, fetcher.stall_after = clock, 30.0
    topic = lk.topics.metrics
    source.put(topic, metric("h1", T0), b"h1")
    await drain(fetcher)
    seeks = len(source.seeks)
    for step in range(6):  # moving: a record applied between every check
        assert await fetcher.check_stalls() == []
        source.put(topic, metric("h1", T0 + 1 + step), b"h1")
        await drain(fetcher)
        clock.now += 20.0
    for _ in range(5):  # quiet: nothing past the applied offset
        assert await fetcher.check_stalls() == []
        clock.now += 20.0
    assert len(source.seeks) == seeks
    assert lk.stats.total("lookout_input_stalls_total") == 0


async def test_nothing_is_checked_without_an_assignment() -> None:
    _lk, _out, source, fetcher = memory_worker({"LOOKOUT_APP_ID": "stall-test-3"})
    assert fetcher.assigned == set()
    assert await fetcher.check_stalls() == []
    assert source.seeks == []
