"""Drain (c): a real ``lookout worker`` reading the workload's topics, timed through its API.

``/api/health`` (``records_in`` = ``lookout_records_in_total``) is polled every 0.2 s, every
0.02 s while it is still 0 and every 0.05 s when the end is less than a second away. The worker
answers HTTP only between batches, so the last answer that shows 0 marks, within those 20 ms,
when it started on its first batch; the first answer that shows all N marks its end. The rate is
N over that span. Peak RSS is the worker's ``VmHWM``. ``records_in`` counts metrics (W1, W2,
W1f) or access lines (W3); the worker counts a record once its batch is flushed.

A drain runs ``repeat`` fresh workers one after the other (each its own consumer group from the
start of the topic) and reports the median run with every run's rate (the spread).
"""

from __future__ import annotations

import asyncio
import time

from devtools.bench.context import Context, Prepared
from devtools.bench.profile import Profiler
from devtools.bench.result import LOOKOUT, LOOKOUT_NOPAT, LOOKOUT_SINKS, DrainResult, median_run
from devtools.bench.worker import LookoutWorker

POLL, POLL_IDLE, POLL_END = 0.2, 0.02, 0.05


async def drain_lookout(
    ctx: Context,
    prepared: Prepared,
    *,
    repeat: int = 1,
    sinks: bool = False,
    patterns: bool = True,
) -> DrainResult:
    """``repeat`` workers, one after the other; the median run (see the module docstring)."""
    runs = [await drain_once(ctx, prepared, run, repeat, sinks, patterns) for run in range(repeat)]
    result = median_run(runs)
    if repeat > 1:
        rates = ", ".join(f"{r:,.0f}" for r in result.runs)
        ctx.progress.note(f"  median of {repeat}: {result.eps:,.0f}/s (runs: {rates})")
    return result


async def drain_on_off(
    ctx: Context, prepared: Prepared, *, repeat: int = 1
) -> tuple[DrainResult, DrainResult]:
    """Patterns on and off, ``repeat`` runs each, interleaved (on off off on on off ...) so that
    a change in the machine's load weighs on both alike; the median run of each."""
    on: list[DrainResult] = []
    off: list[DrainResult] = []
    for run in range(repeat):
        order = (True, False) if run % 2 == 0 else (False, True)
        for patterns in order:
            done = await drain_once(ctx, prepared, run, repeat, False, patterns)
            (on if patterns else off).append(done)
    for runs in (on, off):
        if repeat > 1:
            rates = ", ".join(f"{r.eps:,.0f}" for r in runs)
            ctx.progress.note(f"  {runs[0].drain}: runs {rates}")
    return median_run(on), median_run(off)


async def drain_once(
    ctx: Context, prepared: Prepared, run: int, repeat: int, sinks: bool, patterns: bool = True
) -> DrainResult:
    """Start a worker on the workload's prefix; time it until it has counted every record."""
    drain = LOOKOUT_SINKS if sinks else LOOKOUT if patterns else LOOKOUT_NOPAT
    stack = ctx.sinks_stack if sinks else None
    if sinks and stack is None:
        raise RuntimeError("the sinks-on worker needs the full embedded stack (--sinks)")
    name = f"{prepared.workload}-{drain}-{run}"
    ctx.progress.phase(f"{prepared.workload} {drain} {run + 1}/{repeat}")
    worker = LookoutWorker(ctx, name, prepared.prefix, stack, patterns)
    profiler: Profiler | None = None
    target = prepared.metrics
    begun = time.monotonic()
    start: float | None = None  # the last answer that showed 0 records
    base = 0.0  # records already counted at ``start`` (0 unless no answer showed 0)
    count, answered, peak = 0.0, begun, None
    cpu_start: float | None = None  # the worker's CPU seconds when it was last seen idle
    cpu_end: float | None = None
    batches: tuple[int, float] | None = None
    summary: str | None = None
    try:
        while count < target:
            if not worker.child.alive():
                raise worker.child.failure("exited")
            asked = time.monotonic()
            if asked - begun > ctx.timeout:
                break
            seen = await worker.records_in()
            answered = time.monotonic()
            peak = worker.child.peak_rss_mb() or peak
            interval = POLL
            if seen is None:
                ctx.progress.update(f"starting ({answered - begun:.0f} s)")
            elif seen == 0:
                start, interval = answered, POLL_IDLE
                cpu_start = worker.child.cpu_seconds()
                if profiler is None and ctx.profile_dir is not None:
                    profiler = Profiler(ctx, worker.child.pid, name)
                ctx.progress.update(f"waiting for records ({answered - begun:.0f} s)")
            else:
                count = seen
                if start is None:  # busy from its first answer on: time from here
                    start, base = answered, seen
                rate = (count - base) / max(1e-9, answered - start)
                if (target - count) / max(rate, 1.0) < 1.0:
                    interval = POLL_END
                ctx.progress.update(
                    f"{count:,.0f}/{target:,} records ({rate:,.0f}/s), RSS {peak or 0:,.0f} MB"
                )
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - asked)))
        peak = worker.child.peak_rss_mb() or peak
        cpu_end = worker.child.cpu_seconds()
        batches = await worker.batches()
    finally:
        if profiler is not None:
            summary = profiler.stop()
        worker.stop()
    if start is None or count == 0:
        raise worker.child.failure(f"processed nothing in {ctx.timeout:.0f} s")
    result = DrainResult(
        drain, prepared.workload, int(count - base), answered - start, count >= target, peak
    )
    status = "" if result.complete else f" (stopped at the {ctx.timeout:.0f} s limit)"
    busy = ""
    if cpu_start is not None and cpu_end is not None and result.seconds > 0:
        # how much of the span the worker computed; the rest it waited (broker acks, fetches)
        cpu = cpu_end - cpu_start
        busy = f", worker CPU {cpu:.1f} s of {result.seconds:.1f} s ({cpu / result.seconds:.0%})"
    if batches is not None and batches[0] > 0:
        # the batch size sets how often each touched pane is written (the flush's share)
        busy += f", {batches[0]:,} batches of {batches[1] / batches[0]:,.0f} messages on average"
    ctx.progress.done(
        f"{count:,.0f} records, {result.eps:,.0f}/s, peak RSS {peak or 0:,.0f} MB{busy}{status}"
    )
    if summary:
        ctx.progress.note(summary)
    return result
