"""Drain (c): a real ``lookout worker`` reading the workload's topics, timed through its API.

``/api/health`` (``records_in`` = ``lookout_records_in_total``) is polled every 0.2 s, every
0.02 s while it is still 0 and every 0.05 s when the end is less than a second away. The worker
answers HTTP only between batches, so the last answer that shows 0 marks, within those 20 ms,
when it started on its first batch; the first answer that shows all N marks its end. The rate is
N over that span. Peak RSS is the worker's ``VmHWM``.
"""

from __future__ import annotations

import asyncio
import time

from devtools.bench.context import Context, Prepared
from devtools.bench.profile import Profiler
from devtools.bench.result import LOOKOUT, DrainResult
from devtools.bench.worker import LookoutWorker

POLL, POLL_IDLE, POLL_END = 0.2, 0.02, 0.05


async def drain_lookout(ctx: Context, prepared: Prepared) -> DrainResult:
    """Start a worker on the workload's prefix; time it until it has counted every metric."""
    name = f"{prepared.workload}-{LOOKOUT}"
    ctx.progress.phase(f"{prepared.workload} {LOOKOUT}")
    worker = LookoutWorker(ctx, name, prepared.prefix)
    profiler: Profiler | None = None
    target = prepared.metrics
    begun = time.monotonic()
    start: float | None = None  # the last answer that showed 0 records
    base = 0.0  # records already counted at ``start`` (0 unless no answer showed 0)
    count, answered, peak = 0.0, begun, None
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
                    f"{count:,.0f}/{target:,} metrics ({rate:,.0f}/s), RSS {peak or 0:,.0f} MB"
                )
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - asked)))
        peak = worker.child.peak_rss_mb() or peak
    finally:
        if profiler is not None:
            summary = profiler.stop()
        worker.stop()
    if start is None or count == 0:
        raise worker.child.failure(f"processed nothing in {ctx.timeout:.0f} s")
    result = DrainResult(
        LOOKOUT, prepared.workload, int(count - base), answered - start, count >= target, peak
    )
    status = "" if result.complete else f" (stopped at the {ctx.timeout:.0f} s limit)"
    ctx.progress.done(
        f"{count:,.0f} metrics, {result.eps:,.0f} metrics/s, peak RSS {peak or 0:,.0f} MB{status}"
    )
    if summary:
        ctx.progress.note(summary)
    return result
