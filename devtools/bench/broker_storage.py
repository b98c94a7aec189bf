"""Memory against disk storage of the embedded broker: produce and consume rates, broker memory.

``python -m devtools.bench.broker_storage [--count N]`` starts one broker of each kind (its own
stack folder), produces N small JSON messages to a topic of 8 partitions with aiokafka (acks from
the broker, batches of 5000 awaited), then consumes them in a consumer group that commits after
every batch, and prints one line per storage with the rates and the peak resident memory of the
broker (and of its file store, for ``disk``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.services import Services
from app.settings import load_settings
from devtools.stack import LocalStack

PARTITIONS = 8
TOPIC = "storage-bench"


def rss_mb(pid: int | None) -> float:
    """Resident memory of ``pid`` in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return 0.0


async def measure(bootstrap: str, count: int) -> tuple[float, float]:
    """(produce msg/s, consume msg/s) of ``count`` messages on a fresh topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for i in range(count):
            value = b'{"name":"cpu","fields":{"usage":%d}}' % i
            pending.append(await producer.send(TOPIC, value, key=b"host-%d" % (i % 50)))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    produce = count / (time.monotonic() - started)
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id="storage-bench",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10_000,
    )
    await consumer.start()
    started, got = time.monotonic(), 0
    try:
        while got < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            got += sum(len(msgs) for msgs in batch.values())
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()
    return produce, count / (time.monotonic() - started)


@contextlib.contextmanager
def broker_only_stack(storage: str, name: str) -> Iterator[tuple[LocalStack, Services]]:
    """An embedded broker of ``storage`` (and its file store, for ``disk``) alone, in a stack
    folder of its own; stopped on exit."""
    folder = Path(tempfile.mkdtemp(prefix=f"lookout-{name}-{storage}-"))
    settings = load_settings(
        {
            "LOOKOUT_STACK_DIR": str(folder),
            "LOOKOUT_BROKER_STORAGE": storage,
            # set, so only the broker (and its store) start
            "LOOKOUT_POSTGRES_DSN": "postgresql://unused@127.0.0.1:1/unused",
            "LOOKOUT_ELASTICSEARCH_URL": "http://127.0.0.1:1",
        }
    )
    stack = LocalStack(settings, log=lambda line: None)
    services = stack.up()
    try:
        yield stack, services
    finally:
        stack.down()


def run(storage: str, count: int) -> str:
    """One storage: start its broker, measure, stop; the report line."""
    with broker_only_stack(storage, "storage") as (stack, services):
        pids = [part["pid"] for part in stack.status()["parts"].values()]  # type: ignore[attr-defined]
        produce, consume = asyncio.run(measure(services.bootstrap_servers, count))
        memory = sum(rss_mb(pid) for pid in pids)
    return (
        f"{storage:6}: produce {produce:8,.0f} msg/s, consume {consume:8,.0f} msg/s, "
        f"broker{' + store' if storage == 'disk' else ''} RSS {memory:,.0f} MB after {count:,}"
    )


def main() -> None:
    """Measure both storages one after the other and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=100_000)
    ns = p.parse_args()
    for storage in ("memory", "disk"):
        print(run(storage, ns.count), flush=True)


if __name__ == "__main__":
    main()
