"""``lookout bench``: one broker, each workload produced once, drained by each drainer."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from app import native
from app.services import Services
from app.settings import Settings
from devtools.bench.catalog import rounded_count, start_for
from devtools.bench.cleanup import delete_run_topics
from devtools.bench.context import Context, Prepared
from devtools.bench.drain_lookout import drain_lookout, drain_on_off
from devtools.bench.drain_raw import drain_raw
from devtools.bench.drain_sub import drain_tallied, faust_command, quix_command
from devtools.bench.latency import run_latency
from devtools.bench.options import NAIVE_LIMIT, Options, options_from_args
from devtools.bench.procs import Children
from devtools.bench.producer import prepare
from devtools.bench.progress import Progress
from devtools.bench.report import machine, revision, summary, table, today
from devtools.bench.result import (
    BARE,
    LOOKOUT,
    LOOKOUT_NOPAT,
    LOOKOUT_SINKS,
    NAIVE,
    QUIX,
    RAW,
    DrainResult,
    Results,
    Skipped,
    median_run,
)
from devtools.bench.workloads import W1, W3, W3A
from devtools.stack import LocalStack
from sinks.migrations import migrate


def bench(settings: Settings, ns: argparse.Namespace) -> int:
    """Run the benchmark as the options say; print the table and the JSON line."""
    try:
        opts = options_from_args(ns)
    except ValueError as exc:
        print(f"lookout bench: {exc}", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:6]
    workdir = settings.stack_dir.expanduser().resolve() / "bench" / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet=opts.json_only)
    children = Children()
    stack: LocalStack | None = None
    services: Services | None = None
    try:
        if settings.broker_url and not opts.sinks:
            broker_url = settings.broker_url
            progress.note(f"broker: {broker_url} (LOOKOUT_BROKER_URL)")
        else:
            stack_settings = settings.model_copy(update={"stack_dir": workdir / "stack"})
            stack = LocalStack(
                stack_settings if opts.sinks else _broker_only(settings, workdir / "stack"),
                detached=False,
                log=lambda line: progress.note(f"  {line}"),
            )
            up = stack.up()
            broker_url = up.broker_url
            if opts.sinks:
                services = up
                progress.note("sinks: migrating Postgres for the sinks-on workers")
                asyncio.run(migrate(up.postgres_dsn, progress=lambda line: None))
        if opts.profile is not None:
            opts.profile.mkdir(parents=True, exist_ok=True)
        results, failed = asyncio.run(
            _run(settings, opts, broker_url, run_id, workdir, children, progress)
        )
        if opts.skip_sinks:
            results.sinks_skipped = "--skip-sinks"
        else:
            _bench_sinks(settings, services, workdir, results, failed, progress)
    finally:
        children.stop_all()
        if stack is not None:
            stack.down()
    if not opts.json_only:
        print(table(results))
        print(f"logs: {workdir / 'logs'}")
        print(f"window core: {native.STATE}")
    print(json.dumps(summary(results, machine(), today(), revision())))
    return 1 if failed else 0


def _bench_sinks(
    settings: Settings,
    services: Services | None,
    workdir: Path,
    results: Results,
    failed: list[str],
    progress: Progress,
) -> None:
    """Sink figures on the run's Postgres and osmem (--sinks), else on their own ones."""
    from devtools.bench.sinks import bench_sinks

    n = min(results.count, 200_000)
    progress.note(f"sinks: {n:,} rows into Postgres, Elasticsearch docs, against bare writes")
    stack = None
    try:
        if services is None:
            stack = LocalStack(
                settings.model_copy(update={"stack_dir": workdir / "sink-stack"}),
                detached=False,
                log=lambda line: progress.note(f"  {line}"),
            )
            services = stack.up()
        results.sinks = asyncio.run(bench_sinks(services, n))
    except Exception as exc:
        results.sinks_skipped = f"failed: {exc}"
        failed.append("sinks")
        progress.note(f"sinks: FAILED: {exc}")
    finally:
        if stack is not None:
            stack.down()


def _broker_only(settings: Settings, stack_dir: Path) -> Settings:
    """Settings that leave only the broker to the embedded stack, in a folder of this run."""
    return settings.model_copy(
        update={
            "postgres_dsn": settings.postgres_dsn or SecretStr("postgresql://unused@127.0.0.1:9/x"),
            "elasticsearch_url": settings.elasticsearch_url or "http://127.0.0.1:9",
            "stack_dir": stack_dir,
        }
    )


async def _run(
    settings: Settings,
    opts: Options,
    broker_url: str,
    run_id: str,
    workdir: Path,
    children: Children,
    progress: Progress,
) -> tuple[Results, list[str]]:
    count = rounded_count(W1, opts.count)
    if count != opts.count:
        progress.note(f"count: {opts.count:,} rounded up to {count:,} (whole 10-s intervals)")
    results = Results(count, repeat=opts.repeat)
    failed: list[str] = []
    bench_settings = settings.model_copy(update={"partitions": 8, "topic_prefix": ""})
    async with aiohttp.ClientSession() as session:
        ctx = Context(
            settings=bench_settings,
            broker_url=broker_url,
            run_id=run_id,
            workdir=workdir,
            children=children,
            progress=progress,
            session=session,
            timeout=opts.timeout,
            profile_dir=opts.profile,
            sinks_stack=workdir / "stack" if opts.sinks else None,
        )
        progress.note(f"run {run_id}: {opts.count:,} records per workload; logs in {workdir}")
        for workload in opts.workloads:
            prepared = await _prepare(ctx, workload, opts.count, failed)
            if prepared is None:
                continue
            results.fields_per_record[workload] = prepared.fields / prepared.metrics
            for drain in opts.drains:
                await _drain(ctx, opts, prepared, drain, results, failed)
                if drain == LOOKOUT and opts.sinks:
                    await _drain(ctx, opts, prepared, LOOKOUT_SINKS, results, failed)
        if opts.skip_latency:
            results.latency_skipped = "--skip-latency"
        else:
            try:
                results.latency = await run_latency(ctx)
            except Exception as exc:
                results.latency_skipped = f"failed: {exc}"
                failed.append("latency")
                progress.note(f"latency: FAILED: {exc}")
        if settings.broker_url:  # not our broker: leave no bench topics behind
            await _delete_topics(ctx)
    return results, failed


async def _delete_topics(ctx: Context) -> None:
    try:
        names = await delete_run_topics(ctx.bootstrap, ctx.name())
        ctx.progress.note(f"topics: deleted {len(names)} topics of run {ctx.run_id}")
    except Exception as exc:
        ctx.progress.note(f"topics: could not delete the topics named {ctx.name()}*: {exc}")


async def _prepare(ctx: Context, workload: str, count: int, failed: list[str]) -> Prepared | None:
    try:
        return await prepare(ctx, workload, count, start_for(workload, count, time.time()))
    except Exception as exc:
        failed.append(f"produce {workload}")
        ctx.progress.note(f"produce {workload}: FAILED: {exc}")
        return None


def _skip_reason(prepared: Prepared, drain: str, results: Results) -> str | None:
    """Why a drain is not run on a workload, or None."""
    if drain == QUIX and importlib.util.find_spec("quixstreams") is None:
        return "quixstreams is not installed (pip install -e '.[bench]')"
    if prepared.workload == W3A and drain not in (LOOKOUT, LOOKOUT_NOPAT):
        return "w3a measures the Lookout worker's pattern mining only"
    if drain == NAIVE and prepared.workload == W3:
        return "not defined for log lines (it counts metric fields)"
    if drain == NAIVE and prepared.workload != W1:
        w1 = results.eps(NAIVE, W1)  # updates/s: every W1 metric has one field
        if w1 and prepared.fields / w1 > NAIVE_LIMIT:
            minutes = prepared.fields / w1 / 60
            return f"would take about {minutes:.0f} min at the W1 naive rate (> 10 min)"
    return None


async def _drain(
    ctx: Context,
    opts: Options,
    prepared: Prepared,
    drain: str,
    results: Results,
    failed: list[str],
) -> None:
    workload = prepared.workload
    reason = _skip_reason(prepared, drain, results)
    if reason is not None:
        results.skipped.append(Skipped(drain, workload, reason))
        ctx.progress.note(f"{workload} {drain}: skipped, {reason}")
        return
    limit = ctx.timeout
    if drain == NAIVE and workload != W1:
        limit = min(limit, NAIVE_LIMIT)
    try:
        result: DrainResult
        if drain == RAW:
            result = await drain_raw(ctx, prepared)
        elif drain == LOOKOUT_NOPAT and LOOKOUT in opts.drains:
            return  # measured with LOOKOUT, interleaved
        elif drain == LOOKOUT and LOOKOUT_NOPAT in opts.drains:
            result, off = await drain_on_off(ctx, prepared, repeat=opts.repeat)
            results.add(off)
        elif drain in (LOOKOUT, LOOKOUT_SINKS, LOOKOUT_NOPAT):
            sinks, patterns = drain == LOOKOUT_SINKS, drain != LOOKOUT_NOPAT
            result = await drain_lookout(
                ctx, prepared, repeat=opts.repeat, sinks=sinks, patterns=patterns
            )
        elif drain == QUIX:  # the peer the targets divide by: its median of --repeat runs too
            runs = []
            for attempt in range(opts.repeat):
                cmd = quix_command(ctx, prepared, attempt)
                runs.append(
                    await drain_tallied(ctx, prepared, drain, cmd, limit=limit, attempt=attempt)
                )
            result = median_run(runs)
        elif drain in (BARE, NAIVE):
            cmd = faust_command(ctx, prepared, drain)
            result = await drain_tallied(ctx, prepared, drain, cmd, limit=limit)
        else:  # pragma: no cover - options validate the names
            raise ValueError(drain)
    except Exception as exc:
        failed.append(f"{workload} {drain}")
        results.skipped.append(Skipped(drain, workload, f"failed: {str(exc).splitlines()[0]}"))
        ctx.progress.note(f"{workload} {drain}: FAILED: {exc}")
        return
    results.add(result)
