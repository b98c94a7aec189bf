"""`lookout simulate` against a real broker: what it sends is what a consumer reads back."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import islice

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from app.settings import Settings, load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.generator import KIND_APP, KIND_METRICS, KIND_NGINX, generate
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import SimulatorError, run

pytestmark = pytest.mark.integration

START = datetime(2024, 1, 1, tzinfo=UTC)


async def _fresh_topics(
    bootstrap_servers: str, topic_prefix: str
) -> tuple[Settings, dict[str, str]]:
    """Settings with the test's own topic prefix (3 partitions), its topics created."""
    settings = load_settings({"LOOKOUT_TOPIC_PREFIX": topic_prefix, "LOOKOUT_PARTITIONS": "3"})
    await ensure_topics(settings, bootstrap_servers)
    names = TopicNames.from_settings(settings)
    return settings, {
        KIND_METRICS: names.metrics,
        KIND_NGINX: names.logs_nginx,
        KIND_APP: names.logs_app,
    }


async def _consume(
    bootstrap_servers: str, topics: list[str], expected: int
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        quiet = 0
        while asyncio.get_running_loop().time() < deadline and quiet < 2:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
            # once everything is in, wait two quiet polls to catch any extra message
            quiet = quiet + 1 if len(got) >= expected and not batch else 0
    finally:
        await consumer.stop()
    return got


async def test_fixed_count_run_is_consumed_back(bootstrap_servers: str, topic_prefix: str) -> None:
    settings, by_kind = await _fresh_topics(bootstrap_servers, topic_prefix)
    opts = SimOptions(hosts=4, count=600, start=START, timeline="default")
    lines: list[str] = []
    stats = await run(settings, opts, bootstrap_servers, progress=lines.append)

    expected = list(islice(generate(opts, START.timestamp()), 600))
    want = Counter(by_kind[r.kind] for r in expected)
    assert stats.messages == 600 and not stats.stopped and stats.failed == 0
    assert stats.per_topic == dict(want)
    assert stats.metrics > 0 and stats.logs > 0
    assert lines[-1] == "\r" + stats.summary()
    assert all(t.startswith("\r") and not t.endswith("\n") for t in lines[:-1])

    got = await _consume(bootstrap_servers, list(by_kind.values()), 600)
    assert Counter(r.topic for r in got) == want
    assert {r.key for r in got} == {f"host-00{i}".encode() for i in range(4)}
    # per topic and key (one partition), the records arrive in the order they were generated
    sent: dict[tuple[str, bytes], list[tuple[bytes, int]]] = defaultdict(list)
    for r in expected:
        sent[by_kind[r.kind], r.key.encode()].append((r.value, int(r.time * 1000)))
    received: dict[tuple[str, bytes | None], list[tuple[bytes | None, int]]] = defaultdict(list)
    for c in sorted(got, key=lambda c: (c.topic, c.partition, c.offset)):
        received[c.topic, c.key].append((c.value, c.timestamp))
    assert received == sent


async def test_duration_run_sends_that_much_event_time(
    bootstrap_servers: str, topic_prefix: str
) -> None:
    settings, by_kind = await _fresh_topics(bootstrap_servers, topic_prefix)
    opts = SimOptions(hosts=2, duration=120, start=START, format="json", raw_logs=True)
    stats = await run(settings, opts, bootstrap_servers)
    expected = list(generate(opts, START.timestamp(), START.timestamp() + 120))
    assert stats.messages == len(expected)
    assert stats.event_time == expected[-1].time
    assert START.timestamp() + 110 <= stats.event_time < START.timestamp() + 120
    got = await _consume(bootstrap_servers, list(by_kind.values()), len(expected))
    assert len(got) == len(expected)


async def test_live_run_is_paced_and_stops_on_the_event(
    bootstrap_servers: str, topic_prefix: str
) -> None:
    settings, _ = await _fresh_topics(bootstrap_servers, topic_prefix)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(1.5, stop.set)
    now = START.timestamp() + 5  # the clock is an argument: event time starts here
    opts = SimOptions(hosts=2, speed=100)
    lines: list[str] = []
    stats = await run(
        settings, opts, bootstrap_servers, progress=lines.append, stop=stop, clock=lambda: now
    )
    assert stats.stopped and stats.messages > 0
    assert stats.event_start == START.timestamp()  # aligned down to the interval
    # 1.5 s of wall clock at speed 100 is 150 s of event time, give or take an interval
    assert 100 <= stats.event_time - now <= 170
    assert len(lines) >= 3  # status lines at most every 0.5 s, then the summary
    assert lines[-1].endswith("(stopped)\n")


async def test_unreachable_broker_is_a_clear_error() -> None:
    opts = SimOptions(count=1, start=START)
    with pytest.raises(SimulatorError, match=r"cannot connect to Kafka at 127\.0\.0\.1:9 "):
        await run(load_settings({}), opts, "127.0.0.1:9")
