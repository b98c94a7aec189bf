"""Two workers share the partitions; either one answers every query with the same values.

Fixed input (8 hosts, 36 s of one-second metrics and app logs, 10 s windows) is produced once
both workers own partitions. At rest, every host's open windows (both kinds), closed windows and
single series, and every list (hosts, series, services, alerts, overview) must be equal whichever
worker is asked: host queries are routed to the owner (Faust table_route), lists fan out.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

HOSTS = [f"node-{i}" for i in range(8)]
T0 = 1_800_000_000  # aligned to the 10 s windows
SECONDS = 36
WINDOWS = {
    "tumbling_size": "10",
    "hopping_size": "30",
    "hopping_step": "10",
    "grace": "2",
    "idle_timeout": "3600",  # nothing closes by the wall clock while the test reads
}


def messages(names: TopicNames) -> list[tuple[str, str, bytes]]:
    """(topic, host, value): a cpu metric and an app log line per host and second."""
    out = []
    for s in range(SECONDS):
        for i, host in enumerate(HOSTS):
            metric = {
                "name": "cpu",
                "tags": {"host": host, "cpu": "cpu-total"},
                "fields": {"usage_active": float((s * 7 + i * 13) % 100)},
                "timestamp": T0 + s,
            }
            log = {
                "timestamp": T0 + s,
                "level": "error" if (s + i) % 5 == 0 else "info",
                "service": "shop" if i % 2 else "api",
                "host": host,
                "message": "m",
            }
            out.append((names.metrics, host, orjson.dumps(metric)))
            out.append((names.logs_app, host, orjson.dumps(log)))
    return out


async def produce(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for topic, host, value in records:
            await producer.send(topic, value, key=host.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def without_time(doc: Any) -> Any:
    return {k: v for k, v in doc.items() if k != "workers"} if isinstance(doc, dict) else doc


async def test_either_worker_answers_every_query_with_the_same_values(
    stack_services: Services, tmp_path: Path
) -> None:
    prefix = f"w{int(time.time() * 1000) % 10**8}."
    env = worker_env(stack_services, prefix, **WINDOWS)
    settings = load_settings(env)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    one, two = Worker(env, tmp_path, name="one"), Worker(env, tmp_path, name="two")
    try:
        await asyncio.to_thread(one.start)
        await asyncio.to_thread(two.start)

        def split() -> bool:
            a, b = (set(w.get("/api/health")["partitions"]) for w in (one, two))
            statuses = {w.get("/api/health")["status"] for w in (one, two)}
            return bool(a) and bool(b) and not a & b and len(a | b) == 8 and statuses == {"ok"}

        await wait_for(split, 90, "the partitions to be shared by both workers")
        records = messages(TopicNames.from_settings(settings))
        await produce(stack_services.bootstrap_servers, records)

        def processed() -> bool:
            # records_in counts a batch after its state is flushed (agents/pipeline.py), and
            # each message here holds one metric or one log line
            return sum(w.get("/api/health")["records_in"] for w in (one, two)) >= len(records)

        await wait_for(processed, 90, "every record to be processed and its state flushed")

        owners = {w.name: set(w.get("/api/hosts?local=1")["hosts"]) for w in (one, two)}
        assert owners["one"] and owners["two"], owners  # both workers own some hosts
        assert owners["one"] | owners["two"] == set(HOSTS) and not owners["one"] & owners["two"]

        paths = ["/api/hosts", "/api/series", "/api/alerts", "/api/overview"]
        paths += [
            f"/api/services/{s}/windows?kind={k}"
            for s in ("api", "shop")
            for k in ("tumbling", "hopping")
        ]
        for host in HOSTS:
            series = urllib.parse.quote(f"cpu,cpu=cpu-total,host={host} usage_active")
            for kind in ("tumbling", "hopping"):
                paths += [
                    f"/api/hosts/{host}/windows?kind={kind}",
                    f"/api/hosts/{host}/recent?kind={kind}&limit=10",
                    f"/api/hosts/{host}/series/{series}?kind={kind}",
                ]
            paths.append(f"/api/series?host={host}")
        for path in paths:
            a, b = await asyncio.to_thread(one.get, path), await asyncio.to_thread(two.get, path)
            assert without_time(a) == without_time(b), path

        # and the values are the real ones: window [T0+30, T0+40) is open with 6 seconds in it
        doc = one.get(f"/api/hosts/{HOSTS[3]}/windows?kind=tumbling&match=usage_active")
        (cpu,) = doc["series"]
        assert (doc["start"], cpu["value"]["count"]) == (T0 + 30, 6)
        recent = two.get(f"/api/hosts/{HOSTS[3]}/recent?kind=tumbling&match=usage_active")
        assert [w["start"] for w in recent["series"][0]["windows"]] == [T0, T0 + 10, T0 + 20]
        overview = one.get("/api/overview")
        assert overview["workers"] == 2 and len(overview["hosts"]) == len(HOSTS)
        assert {s["service"] for s in overview["services"]} == {"api", "shop"}
    finally:
        await asyncio.to_thread(one.stop)
        await asyncio.to_thread(two.stop)
