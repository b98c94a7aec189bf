"""One result row per chaos scenario (JSON lines), and the peak-memory sampler the rows quote."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from devtools.bench.broker_storage import rss_mb
from tests.integration.checker import Tally

RESULTS = Path(os.environ.get("CHAOS_RESULTS", "tests/artifacts/chaos/results.jsonl"))


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
    failed_checks: int = 0

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

    def compared(
        self, got: Mapping[str, int], want: Mapping[str, int], keys: Iterable[str]
    ) -> None:
        """Take lost and duplicated from stored counts against expected ones (per table or
        document kind, ``keys``); any difference fails the row, naming it."""
        keys = tuple(keys)
        self.lost = sum(max(0, want[k] - got[k]) for k in keys)
        self.duplicated = sum(max(0, got[k] - want[k]) for k in keys)
        detail = {k: (got[k], want[k]) for k in keys if got[k] != want[k]}
        self.check(not detail, f"(stored, expected) differ: {detail}")

    def check(self, ok: bool, failure: str) -> bool:
        """One pass condition: a failed one is noted in the row and makes it fail."""
        if not ok:
            self.notes.append(failure)
            self.failed_checks += 1
        return ok


@contextlib.contextmanager
def recorded(row: Row, path: Path | None = None) -> Iterator[Row]:
    """Write ``row`` however the scenario ends: passed when no check failed and nothing raised
    (an exception is noted in the row and raised again)."""
    try:
        yield row
        row.passed = row.failed_checks == 0
    except BaseException as exc:
        row.passed = False
        first = (str(exc).splitlines() or [""])[0]
        row.notes.append(f"aborted: {type(exc).__name__}: {first[:200]}")
        raise
    finally:
        write_row(row, path or RESULTS)


def write_row(row: Row, path: Path = RESULTS) -> None:
    """Append the row (a scenario run twice keeps both; the renderer takes the last)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(asdict(row)) + "\n")


class Sampler:
    """Calls :meth:`sample` every :attr:`every` seconds in the background while entered."""

    every = 0.5

    async def sample(self) -> None:
        """Take one sample."""

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.every)

    def __enter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._task.cancel()


class PeakRss(Sampler):
    """Samples the resident memory of the processes ``pids()`` names, keeping the peak."""

    def __init__(self, pids: Callable[[], Iterable[int | None]] | Iterable[int | None]) -> None:
        self._pids = pids
        self.peak = 0.0

    async def sample(self) -> None:
        """Add up the processes' RSS now."""
        pids = self._pids() if callable(self._pids) else self._pids
        self.peak = max(self.peak, sum((rss_mb(pid) for pid in pids), 0.0))
