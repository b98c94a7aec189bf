"""The ingest API while the broker is away: 503 with Retry-After, never 202 for a record that is
not on the broker, and 202 again once it is back (a durable broker, killed with SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from app.services import BROKER, Services
from app.settings import load_settings
from app.topics import ensure_topics
from tests.integration.test_durable_broker import durable_stack
from tests.integration.test_ingest import KEY, post
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration


def metric(i: int) -> bytes:
    point = {"name": "cpu", "tags": {"host": "api-0"}, "fields": {"u": 1.0}, "timestamp": i}
    return orjson.dumps(point)


async def test_ingest_answers_503_while_the_broker_is_away(
    stack_services: Services, tmp_path: Path
) -> None:
    stack = durable_stack(stack_services)
    worker = None
    try:
        services = stack.up()
        env = worker_env(services, "ingest-away.", ingest_keys=KEY, ingest_produce_timeout="2")
        await ensure_topics(load_settings(env), services.bootstrap_servers)
        worker = Worker(env, tmp_path)
        await asyncio.to_thread(worker.start)
        now = int(time.time())
        status, _, _ = await post(worker, "/api/ingest/metrics", metric(now))
        assert status == 202

        pid = stack.status()["parts"][BROKER]["pid"]  # type: ignore[index]
        os.kill(int(pid), signal.SIGKILL)
        started = time.monotonic()
        status, body, headers = await post(worker, "/api/ingest/metrics", metric(now + 1))
        assert status == 503, body
        assert int(headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 10  # bounded by the produce timeout

        await asyncio.to_thread(stack.start_part, BROKER)
        deadline = time.monotonic() + 60
        while True:
            status, body, _ = await post(worker, "/api/ingest/metrics", metric(now + 2))
            if status == 202 or time.monotonic() > deadline:
                break
            assert status == 503, body
            await asyncio.sleep(1)
        assert status == 202, f"no 202 within 60 s of the broker's return: {body}"
    finally:
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        stack.down()
