"""The shared state of one benchmark run: broker, names, folders, children, progress, HTTP."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from app.services import bootstrap_servers
from app.settings import Settings
from devtools.bench.catalog import SHAPES
from devtools.bench.procs import Children
from devtools.bench.progress import Progress

PARTITIONS = 8


@dataclass(frozen=True, slots=True)
class Prepared:
    """A workload produced into its own topics (``metrics``: its records, metrics or lines)."""

    workload: str
    prefix: str
    metrics: int
    messages: int
    start: int
    fields: int = 0

    @property
    def topic(self) -> str:
        """The input topic (metrics or nginx logs) a Lookout worker with this prefix reads."""
        return f"{self.prefix}{SHAPES[self.workload].topic}"


@dataclass
class Context:
    """What every phase of a run needs."""

    settings: Settings
    broker_url: str
    run_id: str
    workdir: Path
    children: Children
    progress: Progress
    session: aiohttp.ClientSession
    timeout: float
    profile_dir: Path | None = None
    sinks_stack: Path | None = None  # the full embedded stack (--sinks), else None

    @property
    def bootstrap(self) -> str:
        """``host:port[,host:port]`` for aiokafka and librdkafka."""
        return bootstrap_servers(self.broker_url)

    def name(self, *parts: str) -> str:
        """A name unique to this run (topic prefix, group, app id): ``bench-RUN-part-part``."""
        return "-".join(("bench", self.run_id, *parts))

    def folder(self, *parts: str) -> Path:
        """A folder of this run (created)."""
        path = self.workdir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def child_env(self) -> dict[str, str]:
        """Environment of subprocesses: this process's, with unbuffered output."""
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def prefixed(self, prefix: str) -> Settings:
        """The run's settings with a workload's topic prefix."""
        return self.settings.model_copy(update={"topic_prefix": prefix})
