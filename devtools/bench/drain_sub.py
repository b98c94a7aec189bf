"""Drains that run as subprocesses and report through a tally file: (a'), (b) and (d)."""

from __future__ import annotations

import asyncio
import sys
import time

from devtools.bench.context import PARTITIONS, Context, Prepared
from devtools.bench.result import BARE, NAIVE, QUIX, DrainResult
from devtools.bench.tally import read_tally
from devtools.bench.workloads import W2, W3

POLL = 0.2


def faust_command(ctx: Context, prepared: Prepared, drain: str) -> list[str]:
    """Command line of the bare or naive Faust app for a workload."""
    module = {BARE: "devtools.bench.faust_bare", NAIVE: "devtools.bench.faust_naive"}[drain]
    name = f"{prepared.workload}-{drain}"
    span = int(time.time()) - prepared.start + 3600  # windows must outlive the run (wall clock)
    return [
        sys.executable,
        "-m",
        module,
        "--broker",
        ctx.broker_url,
        "--topic",
        prepared.topic,
        "--app-id",
        ctx.name(prepared.workload, drain),
        "--target",
        str(prepared.metrics),
        "--tally",
        str(ctx.folder("tally") / f"{name}.json"),
        "--data-dir",
        str(ctx.folder("data", name)),
        "--partitions",
        str(PARTITIONS),
        "--expires",
        str(span),
        "worker",
        "--without-web",  # Faust's worker binds port 6066 otherwise, which may be taken
        "-l",
        "info",
    ]


def quix_command(ctx: Context, prepared: Prepared, attempt: int = 0) -> list[str]:
    """Command line of the Quix Streams drain for a workload (``attempt``: the how-many-th run,
    each in its own consumer group, tally and state)."""
    name = run_name(prepared, QUIX, attempt)
    cmd = [
        sys.executable,
        "-m",
        "devtools.bench.quix_drain",
        "--bootstrap",
        ctx.bootstrap,
        "--topic",
        prepared.topic,
        "--group",
        ctx.name(prepared.workload, QUIX, *([str(attempt)] if attempt else [])),
        "--target",
        str(prepared.metrics),
        "--tally",
        str(ctx.folder("tally") / f"{name}.json"),
        "--state-dir",
        str(ctx.folder("data", name)),
    ]
    if prepared.workload == W2:
        return [*cmd, "--batch"]
    return [*cmd, "--text"] if prepared.workload == W3 else cmd


def run_name(prepared: Prepared, drain: str, attempt: int = 0) -> str:
    """The name of one run of a drain (its tally and log files)."""
    return f"{prepared.workload}-{drain}" + (f"-{attempt}" if attempt else "")


async def drain_tallied(
    ctx: Context,
    prepared: Prepared,
    drain: str,
    cmd: list[str],
    *,
    limit: float,
    attempt: int = 0,
) -> DrainResult:
    """Run a drain subprocess until its tally shows every metric (or ``limit`` s passed)."""
    name = run_name(prepared, drain, attempt)
    tally_path = ctx.folder("tally") / f"{name}.json"
    tally_path.unlink(missing_ok=True)
    ctx.progress.phase(f"{prepared.workload} {drain}" + (f" run {attempt + 1}" if attempt else ""))
    child = ctx.children.start(name, cmd, ctx.folder("logs") / f"{name}.log", ctx.child_env())
    target = prepared.metrics
    begun = time.monotonic()
    try:
        while True:
            state = read_tally(tally_path)
            if state.done is not None:
                break
            if not child.alive():
                raise child.failure(f"exited (code {child.proc.returncode}) before the end")
            waited = time.monotonic() - begun
            if waited > limit:
                break
            if state.first is None:
                ctx.progress.update(f"starting, joining the group ({waited:.0f} s)")
            else:
                rate = state.count / max(1e-9, (state.at or time.time()) - state.first)
                ctx.progress.update(f"{state.count:,}/{target:,} records ({rate:,.0f}/s)")
            await asyncio.sleep(POLL)
    finally:
        ctx.children.stop(child)
    state = read_tally(tally_path)
    if state.first is None:
        raise child.failure(f"counted nothing in {limit:.0f} s")
    end = state.done if state.done is not None else state.at or state.first
    result = DrainResult(
        drain, prepared.workload, state.count, end - state.first, state.done is not None
    )
    status = "" if result.complete else f" (stopped at the {limit:.0f} s limit)"
    ctx.progress.done(f"{state.count:,} records, {result.eps:,.0f}/s{status}")
    return result
