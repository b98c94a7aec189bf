"""Final window records as the chaos checker reads them: conflicting re-emissions are counted,
not asserted, so a scenario that produces them still writes its row."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition


async def read_finals(
    bootstrap: str, topic: str, expected: int, timeout: float
) -> tuple[dict[str, Any], int]:
    """(final record by id, number of ids re-emitted with a different value)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    by_id: dict[str, Any] = {}
    conflicts: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                for m in msgs:
                    rec = orjson.loads(m.value)
                    rec.pop("closed_at", None)
                    if rec["id"] in by_id and by_id[rec["id"]] != rec:
                        conflicts.add(rec["id"])
                    by_id.setdefault(rec["id"], rec)
            if batch:
                quiet_since = time.monotonic()
            if len(by_id) >= expected and time.monotonic() - quiet_since > 2:
                break
    finally:
        await consumer.stop()
    return by_id, len(conflicts)


async def read_log(bootstrap: str, topic: str, partitions: int, quiet: float = 15.0) -> list[bytes]:
    """Every record value of ``topic`` from offset 0 of each partition, until ``quiet`` s pass
    without one (a partition stuck at a hole the broker left stays stuck here too)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[bytes] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            got = await consumer.getmany(timeout_ms=300, max_records=20_000)
            for msgs in got.values():
                out += [m.value for m in msgs]
            if got:
                last = time.monotonic()
    finally:
        await consumer.stop()
    return out
