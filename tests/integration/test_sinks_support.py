"""Helpers shared by the sink integration tests (this module holds no tests itself).

Expected counts come from the simulator's own records, regenerated from the same options (the
generator is deterministic) and decoded with the wire-format parsers, not with the sinks'
mapping code: numeric fields for ``server_metrics``, error entries for ``error_logs``, app
records, access and error entries for Elasticsearch.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from devtools.simulator.generator import (
    KIND_APP,
    KIND_METRICS,
    KIND_NGINX,
    SimRecord,
    TrafficGenerator,
)
from devtools.simulator.options import SimOptions
from formats.decode import decode_app, decode_metrics, decode_nginx
from formats.points import AccessLog, ErrorLog
from sinks.es_client import make_es_client
from sinks.migrations import migrate
from tests.integration.workers import Worker

# A worker process wired the way `lookout worker` runs once the sinks are attached to it.
ATTACH_SCRIPT = """
import asyncio, sys
from app.worker import create_app
from app.settings import load_settings
from app.services import resolve_services
from app.topics import ensure_topics
from sinks.service import attach
settings = load_settings()
services = resolve_services(settings)
asyncio.run(ensure_topics(settings, services.bootstrap_servers))
lk = create_app(settings, services.broker_url)
lk.sinks = attach(lk.app, settings, services, lk.stats)
sys.argv = ["lookout", "worker", "-l", "info"]
lk.app.main()
"""

# Standalone sinks (run_sinks) that dump their counters and RSS to a JSON file 4 times a second.
SINKS_SCRIPT = """
import asyncio, json, logging, os, sys, time
from app.settings import load_settings
from app.services import resolve_services
from app.stats import Stats
from sinks.service import run_sinks
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logging.getLogger("aiokafka").setLevel(logging.WARNING)
out = sys.argv[1]
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
async def dump(stats):
    while True:
        series = [[n, dict(l), v] for (n, l), v in list(stats.counters.items())]
        series += [[n, dict(l), v] for (n, l), v in list(stats.gauges.items())]
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"rss": rss(), "at": time.time(), "series": series}, f)
        os.replace(tmp, out)
        await asyncio.sleep(0.25)
async def main():
    settings = load_settings()
    stats = Stats()
    task = asyncio.create_task(dump(stats))
    await run_sinks(settings, resolve_services(settings), stats=stats)
    task.cancel()
asyncio.run(main())
"""


class ScriptWorker(Worker):
    """A :class:`Worker` that runs a Python script instead of ``lookout worker``."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str, script: str) -> None:
        super().__init__(env, workdir, name)
        self.script = script

    def start(self, wait: float = 60.0) -> ScriptWorker:
        """Start the script; wait for the worker's health endpoint."""
        import subprocess

        with open(self.log_path, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.script],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(wait)
        return self


def sim_records(opts: SimOptions, count: int) -> list[SimRecord]:
    """The first ``count`` records a simulator run with ``opts`` sends."""
    assert opts.start is not None
    gen = TrafficGenerator(opts, opts.start.timestamp())
    return list(itertools.islice(gen.records(), count))


def expected_counts(records: Iterable[SimRecord]) -> Counter[str]:
    """Rows and documents the sinks must store for ``records``."""
    out: Counter[str] = Counter()
    for r in records:
        if r.kind == KIND_METRICS:
            metrics, _ = decode_metrics(r.value, default_host=r.key)
            out["server_metrics"] += sum(
                1
                for m in metrics
                for v in m.fields.values()
                if not isinstance(v, str) and math.isfinite(float(v))
            )
        elif r.kind == KIND_NGINX:
            logs, _ = decode_nginx(r.value, default_host=r.key)
            out["error_logs"] += sum(isinstance(x, ErrorLog) for x in logs)
            out["es_access"] += sum(isinstance(x, AccessLog) for x in logs)
        elif r.kind == KIND_APP:
            apps, _ = decode_app(r.value, default_host=r.key)
            out["application_logs"] += len(apps)
    out["es_error"] = out["error_logs"]
    out["es_app"] = out["application_logs"]
    return out


async def fresh_database(base_dsn: str) -> str:
    """A new, migrated database next to ``base_dsn``'s."""
    name = f"lookout_sinks_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = f"{base_dsn.rpartition('/')[0]}/{name}"
    await migrate(dsn, progress=lambda line: None)
    return dsn


async def pg_counts(dsn: str, topic_prefix: str) -> Counter[str]:
    """Rows per pipeline table (raw tables: of this test's topics)."""
    conn = await asyncpg.connect(dsn)
    try:
        out: Counter[str] = Counter()
        for table in ("server_metrics", "error_logs", "application_logs"):
            out[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE src_topic LIKE $1", topic_prefix + "%"
            )
        for table in ("aggregated_metrics", "error_rates"):
            out[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        out["agg_checksum"] = int(
            await conn.fetchval("SELECT coalesce(sum(count), 0) FROM aggregated_metrics")
        )
        return out
    finally:
        await conn.close()


async def es_counts(url: str, prefix: str, *, embedded: bool = True) -> Counter[str]:
    """Documents per kind in this test's indices (after a refresh)."""
    es = make_es_client(url, embedded=embedded)
    try:
        out: Counter[str] = Counter()
        pattern = f"{prefix}logs-*"
        await es.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
        nginx = f"{prefix}logs-nginx-*"
        for kind in ("access", "error"):
            resp = await es.count(
                index=nginx, query={"term": {"type": kind}}, allow_no_indices=True
            )
            out[f"es_{kind}"] = resp["count"]
        resp = await es.count(index=f"{prefix}logs-app-*", allow_no_indices=True)
        out["es_app"] = resp["count"]
        return out
    finally:
        await es.close()


async def windows_in_topic(bootstrap: str, topic: str, quiet: float = 2.0) -> Counter[str]:
    """Distinct final-window ids on ``topic`` by the table that stores them (reads until
    ``quiet`` s pass); pattern-count windows are left out: no table stores them."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    ids: dict[str, str] = {}
    try:
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                for m in msgs:
                    record = orjson.loads(m.value)
                    kind = record["labels"]["type"]
                    if kind == "pattern":
                        continue  # pattern counts are served live, never stored (sinks/pg_rows)
                    table = "error_rates" if kind == "log" else "aggregated_metrics"
                    ids[record["id"]] = table
                last = time.monotonic()
    finally:
        await consumer.stop()
    return Counter(ids.values())


async def dead_letters(bootstrap: str, topic: str, quiet: float = 2.0) -> list[dict[str, Any]]:
    """Every record on the dead-letter topic."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                out.extend(orjson.loads(m.value) for m in msgs)
                last = time.monotonic()
    finally:
        await consumer.stop()
    return out


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.5
) -> Any:
    """Await ``check()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
            if last:
                return last
        except (OSError, AssertionError) as exc:
            last = exc
        await asyncio.sleep(every)
    raise AssertionError(f"{what}: not reached in {timeout} s (last: {last!r})")


async def worker_windows_settled(worker: Worker, quiet: float = 4.0, timeout: float = 60) -> int:
    """Wait until the worker has closed windows and closes no more for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        closed = (await asyncio.to_thread(worker.get, "/api/health"))["windows_closed"]
        if closed != seen:
            seen, since = closed, time.monotonic()
        elif closed > 0 and time.monotonic() - since >= quiet:
            return int(closed)
        await asyncio.sleep(0.5)
    raise AssertionError(f"windows still closing after {timeout} s:\n{worker.tail()}")


def read_stats(path: Path) -> dict[str, Any]:
    """The sink process's last dump: ``rss``, ``at`` and ``get(name, **labels)``."""
    data = json.loads(path.read_text())
    values = {(n, tuple(sorted(labels.items()))): v for n, labels, v in data["series"]}
    data["values"] = values
    return data


def stat(data: dict[str, Any], name: str, **labels: str) -> float:
    """One counter or gauge of a :func:`read_stats` dump (0 if absent)."""
    return float(data["values"].get((name, tuple(sorted(labels.items()))), 0.0))
