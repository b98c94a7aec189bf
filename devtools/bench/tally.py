"""How drain subprocesses report progress: a small JSON file, rewritten atomically.

The subprocess counts metrics with :class:`Tally` (wall-clock times of its first record and of
the one that reached the target); the bench reads the file with :func:`read_tally`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TallyState:
    """Metrics counted by ``at``; ``first``/``done``: epoch seconds of the first and last record."""

    count: int
    first: float | None
    done: float | None
    at: float | None = None


class Tally:
    """Counts metrics in a drain subprocess; publishes the state every ``every`` seconds."""

    def __init__(
        self,
        path: Path,
        target: int,
        *,
        every: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.target = target
        self.every = every
        self.clock = clock
        self.count = 0
        self.first: float | None = None
        self.done: float | None = None
        self._written = 0.0

    def add(self, n: int) -> bool:
        """Count ``n`` metrics; True exactly once, when the target is reached."""
        now = self.clock()
        if self.first is None:
            self.first = now
        self.count += n
        if self.done is None and self.count >= self.target:
            self.done = now
            self.write()
            return True
        if now - self._written >= self.every:
            self.write()
        return False

    def write(self) -> None:
        """Publish the current state (atomic replace)."""
        self._written = self.clock()
        state = TallyState(self.count, self.first, self.done, self._written)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, self.path)


def read_tally(path: Path) -> TallyState:
    """The last published state (zero before the first write)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return TallyState(0, None, None)
    return TallyState(int(raw["count"]), raw["first"], raw["done"], raw.get("at"))
