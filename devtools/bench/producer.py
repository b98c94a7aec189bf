"""Pre-producing a workload as fast as the broker takes it (aiokafka, linger, big batches)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import replace

from aiokafka import AIOKafkaProducer

from app.topics import ensure_topics
from devtools.bench.catalog import SHAPES, message_count, messages, rounded_count
from devtools.bench.context import Context, Prepared
from devtools.bench.workloads import Message

WINDOW = 20_000  # messages in flight before the oldest ones are awaited


def fast_producer(bootstrap: str, *, linger_ms: int = 20) -> AIOKafkaProducer:
    """A throughput-tuned producer (no idempotence: Tansu refuses InitProducerId)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        max_batch_size=1_048_576,
        max_request_size=8_388_608,
        acks=1,
        request_timeout_ms=60_000,
        enable_idempotence=False,
    )


async def prepare(ctx: Context, workload: str, count: int, start: int) -> Prepared:
    """Create the workload's topics and produce it once; returns where it is."""
    prefix = ctx.name(workload) + "."
    await ensure_topics(ctx.prefixed(prefix), ctx.bootstrap)
    planned = Prepared(
        workload, prefix, rounded_count(workload, count), message_count(workload, count), start
    )
    ctx.progress.phase(f"produce {workload}")
    seconds, fields = await produce(ctx, planned.topic, messages(workload, count, start), planned)
    prepared = replace(planned, fields=fields)
    rate = prepared.messages / seconds if seconds else 0.0
    ctx.progress.done(
        f"{prepared.messages:,} messages, {prepared.metrics:,} {SHAPES[workload].unit}, "
        f"{fields:,} fields in {seconds:.1f} s ({rate:,.0f} msg/s) -> {prepared.topic}"
    )
    return prepared


async def produce(
    ctx: Context, topic: str, stream: Iterable[Message], prepared: Prepared
) -> tuple[float, int]:
    """Send every message (keyed by host, stamped with its event time); (seconds, fields sent)."""
    producer = fast_producer(ctx.bootstrap)
    await producer.start()
    fields = 0
    try:
        started = time.monotonic()
        older: list[asyncio.Future[object]] = []
        newer: list[asyncio.Future[object]] = []
        for sent, msg in enumerate(stream, 1):
            fields += msg.fields
            fut = await producer.send(topic, msg.value, key=msg.key, timestamp_ms=msg.timestamp_ms)
            newer.append(fut)
            if len(newer) >= WINDOW:
                await asyncio.gather(*older)
                older, newer = newer, []
                elapsed = time.monotonic() - started
                ctx.progress.update(
                    f"{sent:,}/{prepared.messages:,} messages ({sent / elapsed:,.0f} msg/s)"
                )
        await asyncio.gather(*older, *newer)
        await producer.flush()
        return time.monotonic() - started, fields
    finally:
        await producer.stop()
