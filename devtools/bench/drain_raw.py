"""Drain (a), the machine's ceiling: aiokafka ``getmany`` + ``orjson.loads`` (or a split into
lines) + a per-host count."""

from __future__ import annotations

import time
from collections import defaultdict

from aiokafka import AIOKafkaConsumer

from devtools.bench.context import Context, Prepared
from devtools.bench.decoding import host_of, records_of
from devtools.bench.result import RAW, DrainResult


async def drain_raw(ctx: Context, prepared: Prepared) -> DrainResult:
    """Read the workload's topic from the start in a new group; time first record to the last."""
    consumer = AIOKafkaConsumer(
        prepared.topic,
        bootstrap_servers=ctx.bootstrap,
        group_id=ctx.name(prepared.workload, RAW),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        fetch_max_bytes=52_428_800,
        max_partition_fetch_bytes=8_388_608,
    )
    ctx.progress.phase(f"{prepared.workload} {RAW}")
    target = prepared.metrics
    per_host: defaultdict[object, int] = defaultdict(int)
    total = 0
    await consumer.start()
    try:
        begun = time.monotonic()
        first: float | None = None
        while total < target:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            now = time.monotonic()
            if batches and first is None:
                first = now
            for records in batches.values():
                for record in records:
                    found = records_of(record.value)  # type: ignore[arg-type]
                    for one in found:
                        per_host[host_of(one, record.key)] += 1
                    total += len(found)
            if first is None:
                ctx.progress.update(f"joining the group ({now - begun:.0f} s)")
            else:
                ctx.progress.update(f"{total:,}/{target:,} records")
            if now - begun > ctx.timeout:
                break
        done = time.monotonic()
    finally:
        await consumer.stop()
    seconds = done - first if first is not None else 0.0
    result = DrainResult(RAW, prepared.workload, total, seconds, complete=total >= target)
    ctx.progress.done(f"{total:,} records of {len(per_host):,} hosts, {result.eps:,.0f}/s")
    return result
