"""What the user sees during a fault: a poller of a worker's live API, counted per phase."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.chaos.rows import Sampler
from tests.integration.workers import Worker


class ApiProbe(Sampler):
    """GETs each of ``paths`` on ``worker`` every ``every`` seconds (one at a time, in a thread)
    and counts the answers per phase: ``ok`` (a JSON answer), ``failed`` (anything else), and the
    slowest answer. Set :attr:`phase` to attribute what follows to a phase of the scenario."""

    def __init__(self, worker: Worker, paths: list[str], every: float = 0.5) -> None:
        self.worker = worker
        self.paths = paths
        self.every = every
        self.phase = "before"
        self.ok: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.slowest: dict[str, float] = {}
        self.errors: list[str] = []

    async def sample(self) -> None:
        """Ask each path once."""
        for path in self.paths:
            phase, started = self.phase, time.monotonic()
            try:
                await asyncio.to_thread(self.worker.get, path)
                self.ok[phase] += 1
            except (OSError, ValueError) as exc:
                self.failed[phase] += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{phase} {path}: {exc!r}"[:200])
            took = time.monotonic() - started
            self.slowest[phase] = max(self.slowest.get(phase, 0.0), took)

    def answered(self, *phases: str) -> tuple[int, int]:
        """(ok, asked) over ``phases`` (all phases when none is named)."""
        names = phases or tuple(set(self.ok) | set(self.failed))
        ok = sum(self.ok[p] for p in names)
        return ok, ok + sum(self.failed[p] for p in names)

    def text(self, *phases: str) -> str:
        """``ok/asked`` over ``phases``, with the slowest answer."""
        ok, asked = self.answered(*phases)
        names = phases or tuple(self.slowest)
        slowest = max((self.slowest.get(p, 0.0) for p in names), default=0.0)
        return f"{ok}/{asked} (slowest {slowest:.1f} s)"
