"""Producer -> topics -> a real worker -> window state over HTTP, and dead letters (real broker)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                out.extend(orjson.loads(m.value) for m in msgs)
    finally:
        await consumer.stop()
    return out


async def poll(fn: Any, timeout: float = 30.0) -> Any:
    """Call ``fn`` until it returns something truthy (assertions inside count as 'not yet')."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except (AssertionError, OSError, KeyError) as exc:
            last = exc
        await asyncio.sleep(0.3)
    raise AssertionError(f"condition not met in {timeout} s: {last!r}")


def batch_msg(host: str, ts: int, value: float) -> bytes:
    return orjson.dumps(
        {
            "metrics": [
                {
                    "name": "cpu",
                    "tags": {"host": host, "cpu": "cpu-total"},
                    "fields": {"usage_active": value},
                    "timestamp": ts,
                }
            ]
        }
    )


@pytest.fixture
async def worker(stack_services: Services, topic_prefix: str, tmp_path: Path) -> Any:
    env = worker_env(stack_services, topic_prefix, max_series_per_host="50")
    await ensure_topics(load_settings(env), stack_services.bootstrap_servers)
    w = Worker(env, tmp_path)
    await asyncio.to_thread(w.start)
    yield w
    await asyncio.to_thread(w.stop)


async def test_window_values_visible_over_http(
    worker: Worker, stack_services: Services, topic_prefix: str
) -> None:
    names = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": topic_prefix}))
    start = int(time.time()) // 60 * 60
    records = [
        (names.metrics, h.encode(), batch_msg(h, start + 5 * i, float(10 * i + n)))
        for n, h in enumerate(["host-a", "host-b"])
        for i in range(6)
    ]
    await produce(stack_services.bootstrap_servers, records)

    def window(host: str) -> dict[str, Any] | None:
        doc = worker.get(f"/api/hosts/{host}/windows?kind=tumbling")
        series = {s["name"]: s["value"] for s in doc["series"]}
        value = series.get(f"cpu,cpu=cpu-total,host={host} usage_active")
        return value if value and value["count"] == 6 else None

    # The two hosts are keyed to different partitions, which the worker may fetch in
    # different batches: wait for each host's own window, not for one and then assume the other.
    value = await poll(lambda: window("host-a"))
    assert value["sum"] == sum(10.0 * i for i in range(6))
    assert (value["min"], value["max"], value["last"]) == (0.0, 50.0, 50.0)
    value_b = await poll(lambda: window("host-b"))
    assert value_b["sum"] == sum(10.0 * i + 1 for i in range(6))
    assert (value_b["min"], value_b["max"], value_b["last"]) == (1.0, 51.0, 51.0)
    hosts = worker.get("/api/hosts")["hosts"]
    assert {"host-a", "host-b"} <= set(hosts)
    hopping = worker.get("/api/hosts/host-b/windows?kind=hopping")
    assert hopping["end"] - hopping["start"] == 300


async def test_series_cap_overflow_is_counted_and_visible(
    worker: Worker, stack_services: Services, topic_prefix: str
) -> None:
    names = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": topic_prefix}))
    fields = {f"f{i}": float(i) for i in range(60)}  # 60 series, the cap is 50
    wide = {"name": "wide", "tags": {"host": "host-o"}, "fields": fields, "timestamp": time.time()}
    await produce(
        stack_services.bootstrap_servers, [(names.metrics, b"host-o", orjson.dumps(wide))]
    )

    def overflow() -> bool:
        with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return 'lookout_series_overflow{host="host-o"} 10' in text

    await poll(overflow)
    assert len(worker.get("/api/series?host=host-o")["series"]) == 50


async def test_malformed_records_go_to_dead_letter_and_next_good_is_processed(
    worker: Worker, stack_services: Services, topic_prefix: str
) -> None:
    names = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": topic_prefix}))
    now = int(time.time())
    iso = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
    good_access = f'10.0.0.1 - - [{iso}] "GET /x HTTP/1.1" 200 5 "-" "curl/8" 0.010'.encode()
    good_app = orjson.dumps(
        {"timestamp": now, "level": "error", "service": "billing", "host": "host-c", "message": "x"}
    )
    bad = [
        (names.metrics, b"host-c", b'{"metrics": [{"name": "cpu"'),  # truncated JSON
        (names.metrics, b"host-c", b"cpu,host=host-c usage=\n"),  # bad line protocol
        (names.logs_nginx, b"host-c", b"this is not an nginx line"),
        (names.logs_app, b"host-c", b'{"level": "info"}'),  # no message
        (names.logs_app, b"host-c", b"\xff\xfe not utf-8"),
    ]
    good = [
        (names.metrics, b"host-c", batch_msg("host-c", now, 42.0)),
        (names.logs_nginx, b"host-c", good_access),
        (names.logs_app, b"host-c", good_app),
    ]
    interleaved = []
    for i, record in enumerate(bad):
        interleaved.append(record)
        interleaved.append(good[i % len(good)])
    await produce(stack_services.bootstrap_servers, interleaved)

    dead = await consume(stack_services.bootstrap_servers, names.deadletter, len(bad))
    assert len(dead) == len(bad)
    originals = {d["topic"]: [] for d in dead}
    for d in dead:
        assert d["reason"], d
        assert d["original_b64"]
        originals[d["topic"]].append(d)
    assert len(originals[names.metrics]) == 2
    assert len(originals[names.logs_nginx]) == 1
    assert len(originals[names.logs_app]) == 2

    def processed() -> bool:
        doc = worker.get("/api/hosts/host-c/windows?kind=tumbling")
        series = {s["name"]: s["value"] for s in doc["series"]}
        cpu = series["cpu,cpu=cpu-total,host=host-c usage_active"]
        nginx = series["log,service=nginx,host=host-c"]
        billing = series["log,service=billing,host=host-c"]
        return cpu["count"] == 2 and nginx["requests"] >= 1 and billing["error_lines"] >= 1

    await poll(processed)
    service = worker.get("/api/services/billing/windows")
    assert [row["host"] for row in service["hosts"]] == ["host-c"]
    assert service["hosts"][0]["value"]["error_lines"] >= 1
    health = worker.get("/api/health")
    assert health["deadletter"] == len(bad)
    metrics_text = json.dumps(health)
    assert "deadletter" in metrics_text
