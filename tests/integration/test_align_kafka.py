"""The fetcher's source and aligner against the real broker (agents/fetcher.py, agents/align.py).

Two topics' partition 0 hold records whose timestamps interleave, the first topic written
whole before the second (a backlog the client hands out lopsided). Read through KafkaSource
with a small hold allowance, the aligner must pause the partition fetched ahead at the client,
resume it, and release every record exactly once, in timestamp order, with no wait given up:
the pause and resume of aiokafka keep each partition's position.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.align import InputAligner, timestamp
from agents.fetcher import KafkaSource
from app.services import Services

COUNT = 400  # records per topic
T0 = 1_790_000_000_000  # ms


async def test_a_lopsided_backlog_comes_out_whole_and_in_timestamp_order(
    stack_services: Services,
) -> None:
    servers = stack_services.bootstrap_servers
    prefix = f"align{int(time.time() * 1000) % 10**8}."
    first, second = prefix + "app", prefix + "nginx"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in (first, second)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
    await producer.start()
    try:
        for topic, odd in ((first, 0), (second, 1)):
            for i in range(COUNT):
                await producer.send(topic, b"x" * 100, partition=0, timestamp_ms=T0 + 2 * i + odd)
        await producer.flush()
    finally:
        await producer.stop()

    tps = [(first, 0), (second, 0)]
    source = KafkaSource(servers, "align-test")
    await source.start()
    aligner = InputAligner(max_wait=30.0, hold_max=60)
    out: list[Any] = []
    paused = 0
    try:
        source.assign(set(tps))
        aligner.reset(tps)
        for tp in tps:
            source.seek(tp, 0)
            aligner.seeked(tp, 0)
        deadline = time.monotonic() + 60
        while len(out) < 2 * COUNT and time.monotonic() < deadline:
            parts = await source.getmany(0.2, 50)
            out += aligner.push(parts, source.known_highwaters(tps), time.monotonic())
            pause, resume = aligner.pauses()
            if resume:
                source.resume(resume)
            if pause:
                source.pause(pause)
                paused += len(pause)
    finally:
        await source.stop()
    assert len(out) == 2 * COUNT, f"released {len(out)} of {2 * COUNT}"
    assert sorted((r.topic, r.offset) for r in out) == sorted(
        (t, o) for t, _ in tps for o in range(COUNT)
    )
    assert [timestamp(r) for r in out] == list(range(T0, T0 + 2 * COUNT))
    assert aligner.timeouts == 0 and aligner.held == 0
    assert paused > 0, "the partition fetched ahead was never paused: the test proves nothing"
