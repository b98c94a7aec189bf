"""POST /api/ingest/*: auth, limits, validation, and records reaching the windows (real stack)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from tests.integration.test_pipeline import poll
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

KEY = "ingest-key-1"


@pytest.fixture
async def worker(stack_services: Services, topic_prefix: str, tmp_path: Path) -> Any:
    env = worker_env(
        stack_services,
        topic_prefix,
        ingest_keys=f"{KEY},other-key",
        ingest_rate="1",
        ingest_burst="6",
        ingest_max_bytes="4096",
    )
    await ensure_topics(load_settings(env), stack_services.bootstrap_servers)
    w = Worker(env, tmp_path)
    await asyncio.to_thread(w.start)
    yield w
    await asyncio.to_thread(w.stop)


async def post(
    w: Worker, path: str, body: bytes, key: str | None = KEY, **params: str
) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(w.url + path, data=body, headers=headers, params=params) as resp,
    ):
        return resp.status, await resp.json(content_type=None), resp.headers


async def test_ingest_accepts_validates_and_limits(worker: Worker) -> None:
    now = time.time()
    batch = {
        "metrics": [
            {"name": "cpu", "tags": {"host": "api-1"}, "fields": {"u": 1.5}, "timestamp": now},
            {"name": "cpu", "tags": {"host": "api-2"}, "fields": {"u": 2.5}, "timestamp": now},
        ]
    }
    status, doc, _ = await post(worker, "/api/ingest/metrics", orjson.dumps(batch))
    assert (status, doc) == (202, {"accepted": 2, "messages": 2})

    # 401: no key, wrong key
    assert (await post(worker, "/api/ingest/metrics", b"{}", key=None))[0] == 401
    assert (await post(worker, "/api/ingest/metrics", b"{}", key="nope"))[0] == 401

    # 400: one bad metric rejects the request, naming the part; nothing is produced
    bad = {"metrics": [batch["metrics"][0], {"name": "", "fields": {}}]}
    status, doc, _ = await post(worker, "/api/ingest/metrics", orjson.dumps(bad))
    assert status == 400 and doc["rejected"][0]["reason"] == "bad_metric"

    # 413: larger than LOOKOUT_INGEST_MAX_BYTES
    status, doc, _ = await post(worker, "/api/ingest/metrics", b"x" * 5000)
    assert status == 413

    # app logs and nginx lines
    log = {"timestamp": now, "level": "error", "service": "pay", "host": "api-1", "message": "x"}
    status, doc, _ = await post(worker, "/api/ingest/logs", orjson.dumps(log))
    assert (status, doc) == (202, {"accepted": 1})
    assert (await post(worker, "/api/ingest/logs", b"GET /", type="nginx"))[0] == 400

    def visible() -> bool:
        one = worker.get("/api/hosts/api-1/windows")
        names = {s["name"] for s in one["series"]}
        return "cpu,host=api-1 u" in names and "log,service=pay,host=api-1" in names

    await poll(visible)

    # 429 once the key's burst is spent; the other key has its own bucket
    statuses = [
        (await post(worker, "/api/ingest/metrics", orjson.dumps(batch)))[0] for _ in range(6)
    ]
    assert 429 in statuses
    status, _, headers = await post(worker, "/api/ingest/metrics", orjson.dumps(batch))
    assert status == 429 and int(headers["Retry-After"]) >= 1
    status, _, _ = await post(worker, "/api/ingest/metrics", orjson.dumps(batch), key="other-key")
    assert status == 202
