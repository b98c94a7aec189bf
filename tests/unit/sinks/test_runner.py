"""SinkRunner with fakes: commit after write, retries, bisecting bad data, rewinds, stop."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiokafka import errors as kafka_errors

from app.stats import Stats
from sinks.errors import Failure, SinkError
from sinks.runner import SinkRunner
from tests.unit.sinks.fakes import (
    TP0,
    TP1,
    FakeConsumer,
    FakeDeadLetters,
    FakeWriter,
    RecordingBackoff,
    log_of,
)


def make(
    consumer: FakeConsumer, writer: FakeWriter | None = None, **kw: Any
) -> tuple[SinkRunner[Any], FakeWriter, FakeDeadLetters, RecordingBackoff, Stats]:
    writer = writer or FakeWriter()
    dead = FakeDeadLetters()
    backoff = RecordingBackoff()
    stats = Stats()
    options: dict[str, Any] = {"batch_max": 100, "linger": 0.01, "check_interval": 3600.0}
    options.update(kw)
    runner: SinkRunner[Any] = SinkRunner(
        writer,  # type: ignore[arg-type]
        lambda: consumer,
        dead_letters=dead,
        stats=stats,
        backoff=backoff,  # type: ignore[arg-type]
        **options,
    )
    return runner, writer, dead, backoff, stats


async def started(runner: SinkRunner[Any]) -> SinkRunner[Any]:
    """Subscribe and start the consumer without the background loop (tests drive step())."""
    await runner.writer.setup()
    await runner.connect()
    return runner


async def test_commits_only_after_the_write_succeeded() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"b"), TP1: log_of(TP1, b"c")})
    runner, writer, _, backoff, stats = make(consumer)
    writer.failures = [ConnectionRefusedError("down"), TimeoutError("slow")]
    await started(runner)
    seen: list[int] = []
    real_write = writer.write

    async def spy(batch: Any) -> Any:
        seen.append(len(consumer.commits))  # nothing committed while the write is pending
        return await real_write(batch)

    writer.write = spy  # type: ignore[method-assign]
    assert await runner.step()
    assert seen == [0, 0, 0]
    assert backoff.attempts == [0, 1]
    assert sorted(writer.stored) == [b"a", b"b", b"c"]
    assert consumer.commits == [{TP0: 2, TP1: 1}]
    assert stats.get("lookout_sink_failures_total", sink="fake", kind="transient") == 2
    assert stats.get("lookout_sink_retries_total", sink="fake") == 2
    assert stats.get("lookout_sink_rows_written_total", sink="fake", table="t") == 3
    assert stats.get("lookout_sink_up", sink="fake") == 1


async def test_a_batch_is_mapped_only_once_the_writer_is_prepared() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"b")})
    runner, writer, _, backoff, stats = make(consumer)
    writer.prepare_failures = [ConnectionRefusedError("postgres down")]  # the host->tenant map
    await started(runner)
    assert await runner.step()
    assert writer.prepared == [2, 2] and backoff.attempts == [0]
    assert writer.stored == [b"a", b"b"] and consumer.commits == [{TP0: 2}]
    assert stats.get("lookout_sink_failures_total", sink="fake", kind="transient") == 1


async def test_backoff_attempts_reset_after_success() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, _, backoff, _ = make(consumer)
    writer.failures = [OSError("reset"), OSError("reset"), OSError("reset")]
    await started(runner)
    await runner.step()
    consumer.logs[TP0] += log_of(TP0, b"a", b"b")[1:]
    writer.failures = [OSError("reset")]
    await runner.step()
    assert backoff.attempts == [0, 1, 2, 0]


async def test_misconfiguration_waits_the_cap_and_keeps_the_batch() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, dead, backoff, stats = make(consumer)
    writer.failures = [asyncpg.exceptions.UndefinedTableError("relation does not exist")]
    await started(runner)
    await runner.step()
    assert backoff.attempts == []  # the cap, not the exponential schedule
    assert writer.stored == [b"a"]
    assert dead.sent == []
    assert stats.get("lookout_sink_failures_total", sink="fake", kind="misconfigured") == 1


async def test_health_and_the_log_say_since_when_and_why_a_sink_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, _, _, _ = make(consumer, wall=lambda: 1000.0)
    full = 'could not extend file "base/16384/16390": No space left on device'
    writer.failures = [asyncpg.exceptions.DiskFullError(full)]
    await started(runner)
    seen: list[dict[str, Any]] = []
    real_write = writer.write

    async def spy(batch: Any) -> Any:
        seen.append(runner.health())
        return await real_write(batch)

    writer.write = spy  # type: ignore[method-assign]
    assert runner.health() == {"up": True, "failing_since": None, "error": None}
    with caplog.at_level("WARNING", logger="sinks.runner"):
        await runner.step()
    # the retry saw the failure; once written, the sink is up again
    assert (seen[1]["up"], seen[1]["failing_since"]) == (False, 1000.0)
    assert seen[1]["error"].startswith(f"transient: DiskFullError: {full}; PostgreSQL is out")
    assert runner.health() == {"up": True, "failing_since": None, "error": None}
    [line] = [r.getMessage() for r in caplog.records if "write failed" in r.getMessage()]
    assert "PostgreSQL is out of disk: free disk on its server" in line
    assert "nothing is committed meanwhile" in line


async def test_bad_record_is_dead_lettered_and_the_rest_is_written() -> None:
    values = [b"a", b"b", b"poison", b"c", b"d"]
    consumer = FakeConsumer({TP0: log_of(TP0, *values)})
    runner, writer, dead, backoff, stats = make(consumer)
    await started(runner)
    await runner.step()
    assert sorted(writer.stored) == [b"a", b"b", b"c", b"d"]
    assert [(sink, r.msg.value, r.item) for sink, r in dead.sent] == [("fake", b"poison", None)]
    assert "poison refused" in dead.sent[0][1].detail
    assert consumer.commits == [{TP0: 5}]
    assert backoff.attempts == []  # bisecting does not wait
    assert stats.get("lookout_sink_deadletter_total", sink="fake") == 1


async def test_mapping_problems_and_refused_items_go_to_dead_letters_before_commit() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"unmappable", b"x", b"skip", b"ok")})
    runner, writer, dead, _, stats = make(consumer)
    writer.reject_items = {b"x"}
    order: list[str] = []
    real_send, real_commit = dead.send, consumer.commit

    async def send(sink: str, rejections: Any) -> None:
        order.append("dead")
        await real_send(sink, rejections)

    async def commit(offsets: Any) -> None:
        order.append("commit")
        await real_commit(offsets)

    dead.send = send  # type: ignore[method-assign]
    consumer.commit = commit  # type: ignore[method-assign]
    await started(runner)
    await runner.step()
    assert order == ["dead", "commit"]
    assert [(r.msg.value, r.item, r.detail) for _, r in dead.sent] == [
        (b"unmappable", 0, "cannot map"),
        (b"x", 3, "item refused"),
    ]
    assert writer.stored == [b"ok"]
    assert stats.get("lookout_sink_skipped_total", sink="fake") == 1
    assert consumer.commits == [{TP0: 4}]


async def test_dead_letter_failures_are_retried_before_commit() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"poison")})
    runner, _, dead, backoff, _ = make(consumer)
    dead.failures = [kafka_errors.KafkaConnectionError("broker away")]
    await started(runner)
    await runner.step()
    assert len(dead.sent) == 1
    assert backoff.attempts == [0]
    assert consumer.commits == [{TP0: 1}]


async def test_items_the_store_asks_to_retry_are_sent_again_alone() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"busy", b"c")})
    runner, writer, _, backoff, _ = make(consumer)
    writer.retry_once = {b"busy"}
    await started(runner)
    await runner.step()
    assert writer.calls == [[b"a", b"busy", b"c"], [b"busy"]]
    assert sorted(writer.stored) == [b"a", b"busy", b"c"]
    assert backoff.attempts == [0]
    assert consumer.commits == [{TP0: 3}]


async def test_lost_partition_is_rewound_and_rewritten_from_the_start() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"b", b"c"), TP1: log_of(TP1, b"z")})
    consumer.committed_offsets = {TP0: 2, TP1: 1}
    consumer.positions = {TP0: 2, TP1: 1}
    runner, writer, _, _, stats = make(consumer)
    await started(runner)
    await runner.step()  # c
    assert writer.stored == [b"c"]
    assert writer.marked == [set()] or writer.marked == []
    # The store restarts empty: the next write fails, the check finds TP0 lost.
    consumer.logs[TP0] += log_of(TP0, b"a", b"b", b"c", b"d")[3:]
    writer.failures = [ConnectionRefusedError("restarting")]
    writer.lost_once = {TP0}
    await runner.step()  # d fails, TP0 is rewound, d is dropped from the batch
    assert consumer.commits[-1] == {TP0: 0}
    assert (TP0, 0) in consumer.seeks
    assert writer.marked[-1] == {TP0}
    assert stats.get("lookout_sink_rewinds_total", sink="fake") == 1
    await runner.step()
    assert writer.stored == [b"c", b"a", b"b", b"c", b"d"]
    assert consumer.committed_offsets[TP0] == 4


async def test_lost_partition_of_a_new_group_is_only_marked() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, _, _, stats = make(consumer)
    writer.lost_once = {TP0}
    await started(runner)
    await runner.step()
    assert consumer.seeks == []
    assert writer.marked == [{TP0}]
    assert writer.stored == [b"a"]
    assert stats.get("lookout_sink_rewinds_total", sink="fake") == 0


async def test_commit_refused_after_a_rebalance_is_skipped() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, _, _, stats = make(consumer)
    consumer.commit_errors = [kafka_errors.CommitFailedError("generation changed")]
    await started(runner)
    await runner.step()
    assert writer.stored == [b"a"]
    assert consumer.commits == []
    assert stats.get("lookout_sink_commit_skipped_total", sink="fake") == 1


async def test_commit_of_revoked_partitions_is_left_out() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a"), TP1: log_of(TP1, b"b")})
    runner, writer, _, _, _ = make(consumer)
    await started(runner)
    real_write = writer.write

    async def revoke_during_write(batch: Any) -> Any:
        consumer.assigned.discard(TP1)
        return await real_write(batch)

    writer.write = revoke_during_write  # type: ignore[method-assign]
    await runner.step()
    assert consumer.commits == [{TP0: 1}]


async def test_fetch_respects_batch_max_and_bytes() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, *[b"x" * 100] * 50)})
    runner, writer, _, _, _ = make(consumer, batch_max=20, batch_bytes=250)
    await started(runner)
    await runner.step()
    assert len(writer.calls[0]) <= 20
    # bytes: the fetch stops once the budget is reached (one getmany may overshoot it)
    assert runner.max_buffered_bytes < 250 + 20 * 101


async def test_stop_during_an_outage_exits_without_committing() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a")})
    runner, writer, _, _, _ = make(consumer)
    writer.failures = [ConnectionRefusedError("down")] * 1000
    runner.backoff.delay = lambda attempt: 0.05  # type: ignore[method-assign]
    await runner.start()
    await asyncio.sleep(0.2)
    assert runner.running
    await asyncio.wait_for(runner.stop(), 2)
    assert consumer.commits == []
    assert consumer.stopped and writer.closed
    assert not runner.running


async def test_unexpected_error_re_reads_from_the_last_commit() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"b")})
    runner, writer, _, _, stats = make(consumer)
    calls = {"n": 0}
    real_map = writer.map

    def flaky_map(msg: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("bug")
        return real_map(msg)

    writer.map = flaky_map  # type: ignore[method-assign]
    runner._buffer.__init__(writer.map)  # type: ignore[misc]
    await runner.start()
    for _ in range(100):
        if sorted(writer.stored) == [b"a", b"b"]:
            break
        await asyncio.sleep(0.02)
    await runner.stop()
    assert sorted(writer.stored) == [b"a", b"b"]
    assert stats.get("lookout_sink_failures_total", sink="fake", kind="unexpected") == 1
    assert consumer.committed_offsets[TP0] == 2


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (SinkError(Failure.BAD_DATA, "x"), Failure.BAD_DATA),
        (ConnectionRefusedError(), Failure.TRANSIENT),
    ],
)
def test_failure_kinds_used_by_the_runner(exc: BaseException, failure: Failure) -> None:
    from sinks.errors import classify

    assert classify(exc) is failure


async def test_lag_counts_messages_past_the_last_commit() -> None:
    consumer = FakeConsumer({TP0: log_of(TP0, b"a", b"b", b"c"), TP1: log_of(TP1, b"d")})
    runner, _, _, _, stats = make(consumer, check_interval=0.0)
    await started(runner)
    assert await runner.offsets.lag() == 4
    await runner.step()  # the tick before the fetch publishes the lag, then commits
    assert stats.get("lookout_sink_lag", sink="fake") == 4
    assert await runner.offsets.lag() == 0
