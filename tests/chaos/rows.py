"""One result row per chaos scenario (JSON lines), and the peak-memory sampler the rows quote."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devtools.bench.broker_storage import rss_mb
from tests.integration.checker import Tally

RESULTS = Path(os.environ.get("LOOKOUT_CHAOS_RESULTS", "tests/artifacts/chaos/results.jsonl"))


@dataclass
class Row:
    """What a scenario did and what it measured; None where it does not apply."""

    scenario: str
    load: str
    fault: str
    user_saw: str = ""
    sent: int | None = None
    windowed: int | None = None
    postgres: int | None = None
    elasticsearch: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    recover_s: float | None = None
    peak_mb: float | None = None
    passed: bool = False
    notes: list[str] = field(default_factory=list)

    def counted(self, result: Tally, conflicts: int) -> bool:
        """Take the checker's counts; True when every window is exact and none conflicts."""
        self.sent, self.windowed = result.sent, result.windowed
        self.lost, self.duplicated = result.lost, result.duplicated
        if conflicts:
            self.notes.append(f"{conflicts} windows re-emitted with a different value")
        if not result.exact:
            self.notes.append(
                f"windows missing {result.windows_missing}, wrong {result.windows_wrong}"
            )
        return result.exact and not conflicts


def write_row(row: Row, path: Path = RESULTS) -> None:
    """Append the row (a scenario run twice keeps both; the renderer takes the last)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(asdict(row)) + "\n")


class PeakRss:
    """Samples the resident memory of the processes ``pids()`` names, keeping the peak."""

    def __init__(self, pids: object) -> None:
        self._pids = pids
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            pids = self._pids() if callable(self._pids) else self._pids
            self.peak = max(self.peak, sum(rss_mb(pid) for pid in pids))  # type: ignore[union-attr]
            await asyncio.sleep(0.5)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
