"""A real ``lookout worker`` subprocess on a workload's topics, and how to read its figures."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from devtools.bench.context import PARTITIONS, Context
from devtools.bench.procs import Child, free_port

# Sinks off, the worker reads only the broker; these keep it from looking for Postgres/osmem.
_UNUSED = {
    "LOOKOUT_POSTGRES_DSN": "postgresql://unused@127.0.0.1:9/unused",
    "LOOKOUT_ELASTICSEARCH_URL": "http://127.0.0.1:9",
}


class LookoutWorker:
    """One worker with its own topic prefix, app id (consumer group), web port and data dir.

    ``sinks``: the run's full embedded stack folder (Postgres and osmem, migrated); the worker
    then runs every sink (``LOOKOUT_SINKS=all``, the production default). None: sinks off.
    ``patterns`` False: ``LOOKOUT_PATTERNS=false`` (no mining).
    """

    def __init__(
        self,
        ctx: Context,
        name: str,
        prefix: str,
        sinks: Path | None = None,
        patterns: bool = True,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = ctx.child_env()
        if sinks is None:
            for key, value in _UNUSED.items():
                env.setdefault(key, value)
        env.update(
            {
                "LOOKOUT_BROKER_URL": ctx.broker_url,
                "LOOKOUT_TOPIC_PREFIX": prefix,
                "LOOKOUT_APP_ID": ctx.name(name),
                "LOOKOUT_WEB_PORT": str(self.port),
                "LOOKOUT_WEB_HOST": "127.0.0.1",
                "LOOKOUT_DATA_DIR": str(ctx.folder("data", name)),
                "LOOKOUT_STACK_DIR": str(sinks or ctx.folder("stack-unused")),
                "LOOKOUT_PARTITIONS": str(PARTITIONS),
                "LOOKOUT_SINKS": "none" if sinks is None else "all",
            }
        )
        if not patterns:  # else the settings' default (on) or the caller's environment
            env["LOOKOUT_PATTERNS"] = "false"
        cmd = [sys.executable, "-m", "app.cli", "worker", "-l", "info"]
        self.child: Child = ctx.children.start(name, cmd, ctx.folder("logs") / f"{name}.log", env)

    async def get(self, path: str, wait: float = 10.0) -> Any:
        """GET a JSON document; None when the worker does not answer (yet)."""
        try:
            async with self.ctx.session.get(
                self.url + path, timeout=aiohttp.ClientTimeout(total=wait)
            ) as resp:
                if resp.status != 200:
                    return None
                return await resp.json()
        except (TimeoutError, aiohttp.ClientError):
            return None

    async def batches(self) -> tuple[int, float] | None:
        """(batches, messages in them) from the worker's ``lookout_batch_messages`` histogram;
        None when it does not answer."""
        try:
            async with self.ctx.session.get(
                self.url + "/metrics", timeout=aiohttp.ClientTimeout(total=10.0)
            ) as resp:
                if resp.status != 200:
                    return None
                text = await resp.text()
        except (TimeoutError, aiohttp.ClientError):
            return None
        found: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("lookout_batch_messages_count", "lookout_batch_messages_sum"):
                found[name] = float(value)
        if len(found) < 2:
            return None
        return int(found["lookout_batch_messages_count"]), found["lookout_batch_messages_sum"]

    async def records_in(self) -> float | None:
        """``records_in`` of ``/api/health`` (``lookout_records_in_total``)."""
        health = await self.get("/api/health")
        return None if health is None else float(health["records_in"])

    async def wait_ready(self, wait: float = 90.0) -> None:
        """Until the worker owns partitions (the group has formed)."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not self.child.alive():
                raise self.child.failure("exited during startup")
            health = await self.get("/api/health", wait=2.0)
            if health and health.get("partitions") and health.get("status") == "ok":
                return
            await asyncio.sleep(0.2)
        raise self.child.failure(f"not ready within {wait:.0f} s")

    def stop(self) -> None:
        """Stop the worker."""
        self.ctx.children.stop(self.child)
