"""Broker crash: SIGKILL the durable broker under load, restart it 10 s later.

Load: the recovery input (12 hosts, 120 s of event time, 2 metrics per message) from a producer
that retries what the broker did not acknowledge, and the ingest API posting one metric per
request for host ``api-0``. The checker counts every window against what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app.services import BROKER, Services
from devtools.stack import LocalStack
from tests.chaos.finals import read_finals, read_log
from tests.chaos.rows import PeakRss, Row, write_row
from tests.integration.checker import expected_windows, key_of, tally
from tests.integration.test_ingest import KEY, post
from tests.integration.test_recovery import HOSTS, T0, WINDOWS, Run, input_messages, wait_for

DOWN = 10.0
PARTITIONS = 8  # LOOKOUT_PARTITIONS' default: the input topics' partitions
RATE = 40.0  # messages per second: the input takes ~36 s


async def produce_retrying(run: Run, messages: list[tuple[bytes, bytes]], rate: float) -> int:
    """Send each message until the broker acknowledges it; returns the number of re-sends."""
    producer = AIOKafkaProducer(
        bootstrap_servers=run.services.bootstrap_servers,
        request_timeout_ms=5000,  # at-least-once: Tansu 0.6 refuses aiokafka's idempotent
    )  # producer (InitProducerId v0 answers UnknownServerError), so a re-send can duplicate
    await producer.start()
    resent = 0
    started = time.monotonic()
    try:
        for n, (host, value) in enumerate(messages):
            while True:
                try:
                    fut = await producer.send(run.names.metrics, value, key=host)
                    await fut
                    break
                except KafkaError:
                    resent += 1
                    await asyncio.sleep(1)
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()
    return resent


async def test_broker_crash(chaos_stack: tuple[LocalStack, Services], tmp_path: Path) -> None:
    stack, services = chaos_stack
    run = Run(services, tmp_path, WINDOWS)
    run.env.update(LOOKOUT_INGEST_KEYS=KEY, LOOKOUT_INGEST_PRODUCE_TIMEOUT="3")
    run.env.update(LOOKOUT_INGEST_RATE="50", LOOKOUT_INGEST_BURST="50")
    await run.setup()
    worker = run.worker("w1")
    await asyncio.to_thread(worker.start)
    messages = input_messages()
    answers: dict[int, int] = {}
    api_sent: dict[int, int] = {}  # event second -> answer status
    health = {"ok": 0, "failed": 0}
    stop = asyncio.Event()

    async def ingest() -> None:
        i = 0
        while not stop.is_set() and i < 120:
            point = {"name": "cpu", "tags": {"host": "api-0"}, "fields": {"u": 1.0}}
            point["timestamp"] = T0 + i
            try:
                status, _, _ = await post(worker, "/api/ingest/metrics", orjson.dumps(point))
            except OSError:
                status = 0
            answers[status] = answers.get(status, 0) + 1
            api_sent[i] = status
            if status == 202:
                i += 1
            else:
                await asyncio.sleep(1)
            await asyncio.sleep(0.3)

    async def watch_health() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(worker.get, "/api/health")
                health["ok"] += 1
            except OSError:
                health["failed"] += 1
            await asyncio.sleep(0.5)

    row = Row(
        "broker crash",
        f"{len(messages)} msgs at {RATE:.0f}/s + ingest API 1 metric/request",
        f"SIGKILL broker at 1/3, restarted after {DOWN:.0f} s",
    )
    with PeakRss(lambda: [worker.proc.pid if worker.proc else None]) as peak:
        tasks = [
            asyncio.create_task(produce_retrying(run, messages[: -len(HOSTS)], RATE)),
            asyncio.create_task(ingest()),
            asyncio.create_task(watch_health()),
        ]
        await asyncio.sleep(len(messages) / RATE / 3)
        pid = int(stack.status()["parts"][BROKER]["pid"])  # type: ignore[index]
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(DOWN)
        restarted = time.monotonic()
        await asyncio.to_thread(stack.start_part, BROKER)
        before = run.records_in()
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: run.records_in() > before, 120, "records after the restart")
        row.recover_s = time.monotonic() - restarted + DOWN
        resent = await tasks[0]
        await tasks[1]
        stop.set()
        await tasks[2]
        closers = [(h, v) for h, v in messages[-len(HOSTS) :]]
        closers.append(
            (
                b"api-0",
                orjson.dumps(
                    {
                        "name": "cpu",
                        "tags": {"host": "api-0"},
                        "fields": {"x": 1},
                        "timestamp": T0 + 10_000,
                    }
                ),
            )
        )
        await produce_retrying(run, closers, 1000)
        want = expected_windows(messages, WINDOWS)
        finals, conflicts = await read_finals(
            services.bootstrap_servers, run.names.windows, len(HOSTS) * 3 * 26 + 26, 120
        )
        row.peak_mb = peak.peak
        # What the broker holds after its restart: if windows are missing, were their records
        # lost by the broker (acknowledged, then gone) or by the worker?
        held = await read_log(services.bootstrap_servers, run.names.metrics, PARTITIONS)
    run.stop()
    api_finals = [r for r in finals.values() if r["host"] == "api-0"]
    others = [r for r in finals.values() if r["host"] != "api-0"]
    result = tally(want, others)
    on_broker = expected_windows([(b"", body) for body in held if b'"api-0"' not in body], WINDOWS)
    broker_lost = sum(
        max(0, n - on_broker.get(k, 0)) for k, n in want.items() if k[2] == "tumbling"
    )
    twice = sum(n - 1 for n in Counter(held).values() if n > 1)
    row.notes.append(
        f"on the broker after its restart: {len(held)} messages for {len(messages)} sent "
        f"({broker_lost} acknowledged metrics gone, {twice} messages held more than once)"
    )
    against_broker = tally(on_broker, others)
    if not against_broker.exact:
        row.notes.append(
            f"against what the broker holds: windows missing {against_broker.windows_missing}, "
            f"wrong {against_broker.windows_wrong}"
        )
    if not result.exact:  # where the damage is: which windows, by kind and start
        names = {key[1] for key in want}
        got = {key_of(r): int(r["value"]["count"]) for r in others if key_of(r)[1] in names}
        bad = Counter((k[2], k[3] - T0) for k, n in want.items() if got.get(k) != n)
        row.notes.append(f"wrong or missing (kind, start - T0): {sorted(bad.items())[:40]}")
    acked = sum(1 for s in api_sent.values() if s == 202)
    api_windowed = sum(
        int(r["value"]["count"])
        for r in api_finals
        if key_of(r)[2] == "tumbling" and key_of(r)[1] == "cpu.u"
    )
    row.counted(result, conflicts)
    api_held = sum(1 for body in held if b'"api-0"' in body and b'"u"' in body)
    row.sent = result.sent + acked
    row.windowed = result.windowed + api_windowed
    row.lost = result.lost + max(0, acked - api_windowed)
    row.duplicated = result.duplicated + max(0, api_windowed - acked)
    row.notes.append(
        f"duplicated: {result.duplicated} metrics from the producer, "
        f"{max(0, api_windowed - acked)} through the ingest API; every one is a message the "
        "broker stored and did not acknowledge before its SIGKILL, sent again (at-least-once)"
    )
    row.user_saw = (
        f"ingest: {answers.get(202, 0)}x202, {answers.get(503, 0)}x503+Retry-After, "
        f"{sum(v for k, v in answers.items() if k not in (202, 503))}x other; "
        f"/api/health answered {health['ok']}/{health['ok'] + health['failed']}; "
        f"producer re-sent {resent}"
    )
    row.passed = all(
        [
            row.check(row.lost == 0 and broker_lost == 0, "acknowledged records lost"),
            row.check(
                against_broker.exact and not conflicts and api_windowed == api_held,
                "Lookout's windows differ from what the broker holds (api-0: "
                f"{api_windowed} windowed, {api_held} on the broker)",
            ),
            row.check(answers.get(503, 0) > 0, "the ingest API never answered 503"),
        ]
    )
    write_row(row)
    assert row.passed, row
