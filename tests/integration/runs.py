"""One pipeline of a recovery test (its own topics, consumer group and workers), and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from tests.integration.expected_windows import Outcome, WindowKey, compare
from tests.integration.topic_io import produce, read_topic
from tests.integration.workers import Worker, worker_env

CLOSING_FIELD = "x"  # the field of the closing records' own series (its windows never close)


def closing_messages(hosts: list[str], at: int) -> list[tuple[bytes, bytes]]:
    """One record per host at event time ``at``, in a series of its own: every window of the
    data before it closes."""
    out = []
    for host in hosts:
        closing = {"name": "cpu", "tags": {"host": host}, "fields": {CLOSING_FIELD: 1.0}}
        closing["timestamp"] = at
        out.append((host.encode(), orjson.dumps(closing)))
    return out


class Run:
    """One pipeline: its own topics, consumer group and workers."""

    def __init__(
        self, services: Services, tmp: Path, settings: dict[str, str], prefix: str | None = None
    ) -> None:
        self.prefix = prefix or f"r{uuid.uuid4().hex[:8]}."
        self.env = worker_env(services, self.prefix, **settings)
        self.settings = load_settings(self.env)
        self.names = TopicNames.from_settings(self.settings)
        self.services = services
        self.tmp = tmp
        self.workers: list[Worker] = []

    async def setup(self) -> None:
        await ensure_topics(self.settings, self.services.bootstrap_servers)

    def worker(self, name: str, **env: str) -> Worker:
        """A worker of this run; ``env`` adds variables (the holey worker's HOLEY_*)."""
        module = "tests.integration.holey_worker" if env else "app.cli"
        w = Worker({**self.env, **env}, self.tmp, name=name, module=module)
        self.workers.append(w)
        return w

    async def produce(self, messages: list[tuple[bytes, bytes]], rate: float = 0) -> None:
        """Send ``messages`` to the metrics topic, ``rate`` messages a second (0: at once)."""
        await produce(
            self.services, self.names.metrics, messages, len(messages) / rate if rate else 0
        )

    def records_in(self) -> int:
        total = 0
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                with contextlib.suppress(OSError):
                    total += int(w.get("/api/health")["records_in"])
        return total

    async def finals(self, want: dict[WindowKey, Any], timeout: float = 60) -> Outcome:
        """The final records on the windows topic, once every expected id is there, checked."""

        def complete(records: list[dict[str, Any]]) -> bool:
            return len({r["id"] for r in records}) >= len(want)

        records = await read_topic(self.services, self.names.windows, complete, timeout)
        return compare(records, want, ignore=lambda key: key[3] == CLOSING_FIELD)

    def describe(self) -> str:
        """Each worker's health (or why it did not answer) and the end of its log."""
        parts = []
        for w in self.workers:
            try:
                health = w.get("/api/health")
                state = {k: health.get(k) for k in ("records_in", "partitions", "status")}
            except Exception as exc:
                state = {"error": repr(exc)}
            parts.append(f"--- {w.name}: {state}\n{w.tail(15)}")
        return "\n".join(parts)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


async def wait_for(cond: Any, timeout: float, what: str, run: Run | None = None) -> None:
    """Poll ``cond`` until true; on timeout fail with the run's workers' state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.2)
    detail = "" if run is None else "\n" + run.describe()
    raise AssertionError(f"timed out waiting for {what}{detail}")
