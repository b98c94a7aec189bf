"""Produce test input to a topic (paced like a live producer); read a topic from the start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.services import Services


async def produce(
    services: Services,
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    pace: float = 0.0,
    sent: list[int] | None = None,
) -> None:
    """Send (key, value) ``messages`` evenly over ``pace`` wall seconds (0: as fast as the broker
    takes them); ``sent[0]`` counts the messages flushed so far."""
    producer = AIOKafkaProducer(bootstrap_servers=services.bootstrap_servers, linger_ms=5)
    await producer.start()
    chunk = max(16, len(messages) // 2000)
    try:
        started = time.monotonic()
        for n, (key, value) in enumerate(messages):
            await producer.send(topic, value, key=key)
            if n % chunk == chunk - 1:
                await producer.flush()
                if sent is not None:
                    sent[0] = n + 1
                ahead = (n + 1) * pace / len(messages) - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
        if sent is not None:
            sent[0] = len(messages)
    finally:
        await producer.stop()


async def read_topic(
    services: Services,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
) -> list[dict[str, Any]]:
    """Every record of ``topic`` from the start, until ``until(records)`` has held for 2 s (or
    the timeout: the caller's assertions then say what is missing)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=services.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        held_since = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=20_000)
            got = [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
            out += got
            if got or not until(out):
                held_since = None
            elif held_since is None:
                held_since = time.monotonic()
            elif time.monotonic() - held_since > 2:
                break
    finally:
        await consumer.stop()
    return out
