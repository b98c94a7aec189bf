"""Per-partition read gaps of a slow consumer on the embedded broker, memory against disk.

``python -m devtools.bench.fetch_gaps [--rate R] [--seconds S] [--work W]`` starts one broker of
each storage (its own stack folder) and, for S seconds, sends R one-record messages a second
(``linger_ms=0``, each awaited: the shape Telegraf's kafka output and log shippers write) to
random partitions of 3 topics of 8 partitions, while a reader (Lookout's ``KafkaSource``, the
worker's input reader) takes a batch, works W seconds on it and asks the broker for each
partition's end. It prints, every 10 s and at the end, the reader's lag and the longest time a
partition went without any record read while the broker held more: the "stalled partition"
of docs/RELIABILITY.md, reproduced without Lookout's pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.fetcher import KafkaSource
from devtools.bench.broker_storage import broker_only_stack

TOPICS = ("gaps-a", "gaps-b", "gaps-c")
PARTITIONS = 8
TPKey = tuple[str, int]


async def measure(bootstrap: str, rate: float, seconds: float, work: float) -> str:
    """Produce and read as the module docstring says; the summary line."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in TOPICS])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=0, enable_idempotence=False, acks=1
    )
    await producer.start()
    reader = KafkaSource(bootstrap, "fetch-gaps")
    await reader.start()
    tps: list[TPKey] = [(t, p) for t in TOPICS for p in range(PARTITIONS)]
    reader.assign(set(tps))
    for tp in tps:
        reader.seek(tp, 0)
    sent = 0

    async def produce() -> None:
        nonlocal sent
        begun = time.monotonic()
        while time.monotonic() - begun < seconds:
            await producer.send(random.choice(TOPICS), b"x" * 200, partition=random.randrange(8))
            sent += 1
            await asyncio.sleep(1 / rate)

    sending = asyncio.create_task(produce())
    read = dict.fromkeys(tps, 0)
    moved = dict.fromkeys(tps, time.monotonic())
    gap = dict.fromkeys(tps, 0.0)
    begun = reported = time.monotonic()
    peak_lag = 0
    try:
        while True:
            parts = await reader.getmany(0.25, 20_000)
            records = [r for recs in parts.values() for r in recs]
            now = time.monotonic()
            for r in records:
                tp = (r.topic, r.partition)
                if r.offset + 1 > read[tp]:
                    read[tp], moved[tp] = r.offset + 1, now
            if records and work:
                await asyncio.sleep(work)  # the reader's processing of its batch
            ends = await reader.latest_offsets(tps)
            now = time.monotonic()
            for tp in tps:
                if ends[tp] > read[tp]:
                    gap[tp] = max(gap[tp], now - moved[tp])
                else:
                    moved[tp] = now
            lag = sum(ends[tp] - read[tp] for tp in tps)
            peak_lag = max(peak_lag, lag)
            if now - reported >= 10:
                reported = now
                worst = max(gap.values())
                elapsed = now - begun
                print(f"  {elapsed:5.0f} s: sent {sent:,}, lag {lag:,}, longest gap {worst:.1f} s")
            if sending.done() and lag <= 0:  # the disk broker can under-report its ends
                break
            if now - begun > seconds + 300:
                break
    finally:
        sending.cancel()
        await producer.stop()
        await reader.stop()
    return (
        f"sent {sent:,} in {seconds:.0f} s, peak lag {peak_lag:,}, "
        f"longest gap {max(gap.values()):.1f} s, all read after {time.monotonic() - begun:.0f} s"
    )


def run(storage: str, rate: float, seconds: float, work: float) -> str:
    """One broker of ``storage`` in a folder of its own; the summary line."""
    with broker_only_stack(storage, "gaps") as (_stack, services):
        return asyncio.run(measure(services.bootstrap_servers, rate, seconds, work))


def main() -> None:
    """Both storages one after the other."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rate", type=float, default=300.0, help="messages a second (default 300)")
    p.add_argument("--seconds", type=float, default=45.0, help="how long to send (default 45)")
    p.add_argument(
        "--work", type=float, default=1.0, help="reader's seconds per batch (default 1.0)"
    )
    ns = p.parse_args()
    for storage in ("memory", "disk"):
        print(f"{storage}:", flush=True)
        print(f"{storage}: {run(storage, ns.rate, ns.seconds, ns.work)}", flush=True)


if __name__ == "__main__":
    main()
