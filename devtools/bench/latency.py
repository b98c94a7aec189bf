"""Latency run: produce W2-shaped messages at a steady rate into a running worker and time how
long each sampled message takes to show in ``GET /api/hosts/{host}/windows?kind=tumbling``.

Message ``seq`` carries ``seq`` as the value of its host's marker series (see
workloads.LatencyMessages); markers only grow, so the message is visible once the open tumbling
window's ``last`` of that series is at least ``seq``. A sampled message is polled every 50 ms
from the moment it is handed to the producer; one never seen within the timeout counts as the
timeout in the quantiles.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from app.topics import ensure_topics
from devtools.bench.context import Context
from devtools.bench.producer import fast_producer
from devtools.bench.result import LatencyResult
from devtools.bench.worker import LookoutWorker
from devtools.bench.workloads import LatencyMessages, marker_field

RATE = 200  # messages per second (x 100 metrics = 20,000 metrics/s)
SECONDS = 20.0
WARMUP = 3.0
SAMPLE_EVERY = 25  # 8 sampled messages per second
POLL = 0.05
TIMEOUT = 15.0


async def _visible(worker: LookoutWorker, host: str, seq: int, sent: float) -> float | None:
    """Seconds from ``sent`` until the worker shows marker ``seq`` for ``host``."""
    field = marker_field()
    path = f"/api/hosts/{quote(host)}/windows?kind=tumbling&match={field}"
    while time.monotonic() - sent < TIMEOUT:
        doc = await worker.get(path, wait=TIMEOUT)
        now = time.monotonic()
        for series in (doc or {}).get("series", []):
            last = series["value"].get("last")
            if series["labels"].get("field") == field and last is not None and last >= seq:
                return now - sent
        await asyncio.sleep(POLL)
    return None


async def run_latency(ctx: Context) -> LatencyResult:
    """Start a worker on fresh topics, produce for ``WARMUP + SECONDS`` s, collect latencies."""
    prefix = ctx.name("latency") + "."
    settings = ctx.prefixed(prefix)
    await ensure_topics(settings, ctx.bootstrap)
    topic = settings.topic("telegraf.metrics")
    ctx.progress.phase("latency")
    worker = LookoutWorker(ctx, "latency-lookout", prefix)
    producer = fast_producer(ctx.bootstrap, linger_ms=1)
    watchers: list[asyncio.Task[float | None]] = []
    started = False
    try:
        ctx.progress.update("starting the worker", force=True)
        await worker.wait_ready()
        await producer.start()
        started = True
        gen = LatencyMessages()
        total = int(RATE * (WARMUP + SECONDS))
        first_sampled = int(RATE * WARMUP)
        begun = time.monotonic()
        seq = 0
        while seq < total:
            due = min(total, int((time.monotonic() - begun) * RATE) + 1)
            while seq < due:
                msg = gen.message(seq, time.time())
                sent = time.monotonic()
                await producer.send(topic, msg.value, key=msg.key, timestamp_ms=msg.timestamp_ms)
                if seq >= first_sampled and seq % SAMPLE_EVERY == 0:
                    host = gen.host_of(seq)
                    watchers.append(asyncio.create_task(_visible(worker, host, seq, sent)))
                seq += 1
            if seq % 100 == 0:
                seen = sorted(x for w in watchers if w.done() and (x := w.result()) is not None)
                mid = f", p50 so far {seen[len(seen) // 2]:.2f} s" if seen else ""
                ctx.progress.update(f"{seq:,}/{total:,} messages sent, {len(seen)} seen{mid}")
            await asyncio.sleep(0.002)
        seconds = time.monotonic() - begun
        await producer.flush()
        ctx.progress.update(f"{seq:,} messages sent; waiting for the last samples", force=True)
        latencies = await asyncio.gather(*watchers)
        peak = worker.child.peak_rss_mb()
    finally:
        for w in watchers:
            w.cancel()
        if started:
            await producer.stop()
        worker.stop()
    samples = [x for x in latencies if x is not None]
    result = LatencyResult(samples, len(latencies) - len(samples), seq, seconds, TIMEOUT, peak)
    p50, p99 = result.quantile(0.5), result.quantile(0.99)
    ctx.progress.done(
        f"{seq:,} messages at {result.rate:,.0f}/s ({result.rate * 100:,.0f} metrics/s); "
        f"{len(samples)}/{len(latencies)} samples seen; "
        f"p50 {p50 or 0:.2f} s, p99 {p99 or 0:.2f} s"
    )
    return result
