"""Worker killed: SIGKILL during W1-shaped load (one metric series batch per host per message),
and again while the restarted worker is recovering its changelog; a third worker finishes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from app.services import Services
from devtools.stack import LocalStack
from tests.chaos.finals import read_finals
from tests.chaos.rows import PeakRss, Row, write_row
from tests.integration.checker import expected_windows, tally
from tests.integration.test_recovery import (
    EXPECTED_RECORDS,
    HOSTS,
    WINDOWS,
    Run,
    input_messages,
    wait_for,
)

RATE = 400.0


async def test_worker_kill(chaos_stack: tuple[LocalStack, Services], tmp_path: Path) -> None:
    _, services = chaos_stack
    run = Run(services, tmp_path, WINDOWS)
    await run.setup()
    messages = input_messages()
    row = Row(
        "worker killed",
        f"{len(messages)} msgs ({EXPECTED_RECORDS} metrics) at {RATE:.0f} msgs/s",
        "SIGKILL at 1/4 of the input, SIGKILL again 2 s into the restart (changelog recovery)",
    )
    first = run.worker("first")
    await asyncio.to_thread(first.start)
    with PeakRss(lambda: [w.proc.pid for w in run.workers if w.proc]) as peak:
        producing = asyncio.create_task(run.produce(messages, rate=RATE))
        await wait_for(lambda: run.records_in() > EXPECTED_RECORDS // 4, 60, "a quarter", run)
        first.kill9()
        killed = time.monotonic()
        second = run.worker("second")
        second_proc = asyncio.to_thread(_start_quietly, second)
        await asyncio.sleep(2)
        second.kill9()
        await second_proc
        third = run.worker("third")
        await asyncio.to_thread(third.start, 120)
        row.recover_s = time.monotonic() - killed
        await producing
        want = expected_windows(messages, WINDOWS)
        finals, conflicts = await read_finals(
            services.bootstrap_servers, run.names.windows, len(HOSTS) * 3 * 26, 120
        )
        row.peak_mb = peak.peak
    health = third.get("/api/health")
    run.stop()
    result = tally(want, finals.values())
    row.user_saw = (
        f"live API down from the kill until the third worker was ready "
        f"({row.recover_s:.0f} s); it then served {health['hosts']} hosts"
    )
    row.passed = row.counted(result, conflicts)
    write_row(row)
    assert row.passed, row


def _start_quietly(worker: object) -> None:
    """Start a worker that is about to be killed: its readiness is not awaited."""
    with contextlib.suppress(RuntimeError):
        worker.start(5)  # type: ignore[attr-defined]
