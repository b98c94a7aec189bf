"""Disk full: Postgres's data directory on a small filesystem that fills up, and the worker's
data directory on a full one.

Both filesystems are the run's own tmpfs mounts (``mount -t tmpfs -o size=...``, as root; a
machine that refuses the mount fails the scenario with mount's error). Postgres's (320 MB) is
filled by a ballast file to 8 MB free, then a burst of 1,500 metric messages (~150k rows) comes;
the worker's data directory (1 MB) is full from the start. The sinks run inside the worker
(``LOOKOUT_SINKS=postgres``, the way ``lookout worker`` runs them), under the simulator's live
load. After the Postgres sink has failed for ``HOLD`` seconds the ballast is deleted (and
Postgres started again if the full disk stopped it).

Postgres meets a full disk in one of two ways: a data file cannot grow (an ERROR, SQLSTATE 53100:
it keeps running), or the WAL cannot get a new segment (a PANIC: it stops, and a restart after
the space returns is the operator's). The scenario starts a fresh WAL segment before filling,
yet both happen (two of four runs each); the row says which.

Pass: the sink's writes fail with a log line that says what to do (the disk is full; or Postgres
is unreachable, its own log says why), and ``/api/health`` shows the sink down with that error;
nothing is committed while it fails (no batch, and every offset below the sink group's committed
position has its rows); the live API keeps answering; once there is room the sink writes again
by itself and every raw row and window row is stored exactly once; the worker never needed its
(full) data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from app.services import POSTGRES, Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import run
from devtools.stack import LocalStack
from sinks.consumer import group_id
from sinks.migrations import migrate
from tests.chaos.probes import ApiProbe
from tests.chaos.rows import PeakRss, Row, recorded
from tests.integration.test_sinks_support import (
    expected_counts,
    pg_counts,
    sim_records,
    wait_for,
    windows_in_topic,
    worker_windows_settled,
)
from tests.integration.workers import Worker, worker_env

MB = 1024 * 1024
PG_FS_MB, ROOM_MB, DATA_FS_MB = 320, 8, 1
HOLD = 30.0  # seconds the sink keeps failing before space returns
BURST = 1500
PREFIX = "f."
TABLES = ("server_metrics", "error_logs", "application_logs", "aggregated_metrics", "error_rates")


@contextlib.contextmanager
def small_fs(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` mounted at ``path`` (made if need be) until the end."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs at {path}: {done.stderr.strip()}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(path: Path, leave_mb: float) -> Path:
    """A ballast file that leaves about ``leave_mb`` MB free on ``path``'s filesystem (in steps:
    Postgres may take some of the room meanwhile)."""
    ballast = path / "ballast"
    with open(ballast, "wb") as f:
        offset = 0
        while (room := int((free_mb(path) - leave_mb) * MB)) > 0:
            step = min(room, 16 * MB)
            try:
                os.posix_fallocate(f.fileno(), offset, step)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break  # full already
            offset += step
    return ballast


def free_mb(path: Path) -> float:
    """Free MB on ``path``'s filesystem."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / MB


@pytest.fixture
def full_disk_stack(tmp_path: Path) -> Iterator[tuple[LocalStack, Services, Path]]:
    """In-memory broker, osmem, and Postgres with its data directory on a small tmpfs (its log
    is kept in the test's folder)."""
    tmp = Path(tempfile.mkdtemp(prefix="lookout-chaos-disk-"))
    tmp.chmod(0o755)  # the postgres user must reach its data dir inside
    settings = load_settings({"LOOKOUT_STACK_DIR": str(tmp), "LOOKOUT_BROKER_STORAGE": "memory"})
    with small_fs(tmp / "pg", PG_FS_MB) as pg_fs:
        stack = LocalStack(settings, detached=False, log=lambda line: None)
        services = stack.up()
        try:
            yield stack, services, pg_fs
        finally:
            stack.down()
            for log in tmp.glob("*.log"):
                shutil.copy(log, tmp_path / f"stack-{log.name}")
    shutil.rmtree(tmp, ignore_errors=True)


async def committed_rows_missing(dsn: str, bootstrap: str, group: str, topic: str) -> int:
    """Offsets below the sink group's committed position of ``topic`` that have no row."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    conn = await asyncpg.connect(dsn)
    try:
        missing = 0
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            tp = TopicPartition(topic, partition)
            upto = await consumer.committed(tp) or 0
            start = (await consumer.beginning_offsets([tp]))[tp]
            have = await conn.fetchval(
                "SELECT count(DISTINCT src_offset) FROM server_metrics WHERE src_topic = $1"
                " AND src_partition = $2 AND src_offset < $3",
                topic,
                partition,
                upto,
            )
            missing += max(0, upto - start) - have
        return missing
    finally:
        await conn.close()
        await consumer.stop()


async def test_disk_full(
    full_disk_stack: tuple[LocalStack, Services, Path], tmp_path: Path
) -> None:
    stack, services, pg_fs = full_disk_stack
    env = worker_env(services, PREFIX, idle_timeout="2", sinks="postgres")
    settings = load_settings(env)
    bootstrap = services.bootstrap_servers
    await ensure_topics(settings, bootstrap)
    await migrate(services.postgres_dsn, progress=lambda line: None)
    metrics_topic = TopicNames.from_settings(settings).metrics
    row = Row(
        "disk full",
        f"simulator 3 hosts at 2 msgs/s (event time 20x) + a burst of {BURST:,} msgs (40 hosts, "
        "~150k rows); sinks inside the worker (Postgres)",
        f"Postgres data dir on a {PG_FS_MB} MB tmpfs filled to {ROOM_MB} MB free before the "
        f"burst, space freed after {HOLD:.0f} s of failed writes; worker data dir on a "
        f"{DATA_FS_MB} MB tmpfs, full all along",
    )
    now = int(time.time())
    start = datetime.fromtimestamp(now - 7200 - now % 600, UTC)
    live = SimOptions(hosts=3, services=2, rate=2.0, speed=20.0, seed=5, start=start)
    burst = SimOptions(
        hosts=40, services=1, rate=0.0, app_logs=False, count=BURST, seed=9, start=start
    )
    with recorded(row), small_fs(tmp_path / "worker-data", DATA_FS_MB) as data_fs:
        fill(data_fs, 0)
        worker = Worker(env, tmp_path, "w-disk")
        worker.env["LOOKOUT_DATA_DIR"] = str(data_fs / "lookout-data")
        stop_sim = asyncio.Event()
        sim: asyncio.Task[object] | None = None
        try:
            await asyncio.to_thread(worker.start)
            sim = asyncio.create_task(run(settings, live, bootstrap, stop=stop_sim))
            paths = ["/api/health", "/api/hosts", "/api/alerts"]

            def sink() -> dict[str, object]:
                return worker.get("/api/health")["sinks"]["postgres"]  # type: ignore[no-any-return]

            def written() -> float:
                return worker.metric("lookout_sink_rows_written_total", sink="postgres")

            with (
                ApiProbe(worker, paths) as probe,
                PeakRss(lambda: [worker.proc.pid if worker.proc else None]) as peak,
            ):

                async def writing() -> bool:
                    return await asyncio.to_thread(written) > 0

                await wait_for(writing, 90, "the Postgres sink writes before the disk fills")
                # a fresh WAL segment first: the data files meet the full disk before the WAL
                # does (a WAL write that cannot get a new segment stops Postgres: PANIC)
                conn = await asyncpg.connect(services.postgres_dsn)
                try:
                    await conn.execute("CHECKPOINT")
                    await conn.fetchval("SELECT pg_switch_wal()")
                finally:
                    await conn.close()
                ballast = fill(pg_fs, ROOM_MB)
                probe.phase = "full"
                burst_stats = await run(settings, burst, bootstrap)

                async def failing() -> dict[str, object] | None:
                    state = await asyncio.to_thread(sink)
                    return state if not state["up"] else None

                state = await wait_for(failing, 180, "the Postgres sink to fail on the full disk")
                failed_at = time.monotonic()
                batches0 = await asyncio.to_thread(
                    worker.metric, "lookout_sink_batches_total", sink="postgres"
                )
                rows0 = await asyncio.to_thread(written)
                await asyncio.sleep(HOLD)
                held = await asyncio.to_thread(sink)
                batches1 = await asyncio.to_thread(
                    worker.metric, "lookout_sink_batches_total", sink="postgres"
                )
                rows1 = await asyncio.to_thread(written)
                group = group_id(settings, "postgres")
                pg_state = stack.status()["parts"][POSTGRES]["state"]  # type: ignore[index]
                missing = None
                if pg_state == "running":
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        missing = await committed_rows_missing(
                            services.postgres_dsn, bootstrap, group, metrics_topic
                        )
                free_before = free_mb(pg_fs)
                ballast.unlink()
                freed = time.monotonic()
                restarted = False
                if stack.status()["parts"][POSTGRES]["state"] != "running":  # type: ignore[index]
                    restarted = True
                    await asyncio.to_thread(stack.start_part, POSTGRES)
                probe.phase = "freed"

                async def recovered() -> bool:
                    state = await asyncio.to_thread(sink)
                    return bool(state["up"]) and await asyncio.to_thread(written) > rows1

                await wait_for(recovered, 180, "the Postgres sink to write again", every=0.5)
                row.recover_s = time.monotonic() - freed
                stop_sim.set()
                live_stats = await sim
                sim = None
                want = expected_counts(sim_records(live, live_stats.messages))
                want += expected_counts(sim_records(burst, burst_stats.messages))
                await worker_windows_settled(worker)
                topic = settings.topic("lookout.windows")
                need = want.copy()

                async def complete() -> bool:
                    # an idle host's last windows go on closing: compare with the topic each time
                    need.clear()
                    need.update(want + await windows_in_topic(bootstrap, topic, quiet=3.0))
                    got = await pg_counts(services.postgres_dsn, PREFIX)
                    return all(got[k] == need[k] for k in TABLES)

                with contextlib.suppress(AssertionError):  # the row says what differs
                    await wait_for(complete, 240, "every row stored after the disk had room")
                got = await pg_counts(services.postgres_dsn, PREFIX)
                row.peak_mb = peak.peak
            data_files = [p for p in (data_fs / "lookout-data").rglob("*") if p.is_file()]
            alive = worker.proc is not None and worker.proc.poll() is None
            log = worker.log_path.read_text(errors="replace")
        finally:
            stop_sim.set()
            if sim is not None:
                await sim
            await asyncio.to_thread(worker.stop)

        disk_lines = [line for line in log.splitlines() if "sink postgres: write failed" in line]
        says = ("out of disk", "unreachable or restarting")  # Postgres up, or stopped by a PANIC
        clear = [line for line in disk_lines if any(s in line for s in says)]
        row.sent = live_stats.messages + burst_stats.messages
        row.windowed = need["aggregated_metrics"] + need["error_rates"]
        row.postgres = sum(got[k] for k in TABLES)
        error = str(state.get("error") or "")
        row.user_saw = (
            f"/api/health: postgres sink up=false, error {error[:140]!r}; log: "
            f"{len(clear)} of {len(disk_lines)} 'write failed' lines say what to do; "
            f"Postgres {pg_state} while full ({free_before:.1f} MB free)"
            f"{', started again after space returned' if restarted else ''}; batches committed "
            f"while failing {batches1 - batches0:.0f}, rows {rows1 - rows0:.0f}; offsets below "
            f"the committed position without rows: {missing}; live API answered "
            f"{probe.text('full')} while full; sink wrote again {row.recover_s:.0f} s after "
            f"space returned; worker data dir full all along, files written there: "
            f"{len(data_files)}"
        )
        row.compared(got, need, TABLES)
        row.check(bool(clear), "no log line says the disk is full")
        row.check(any(s in error for s in says), f"/api/health error says neither: {error!r}")
        row.check(not held["up"], "the sink was up again before space returned")
        row.check(batches1 == batches0 and rows1 == rows0, "something was committed while full")
        row.check(missing in (0, None), f"{missing} committed offsets have no rows")
        ok, asked = probe.answered("full")
        row.check(asked > 0 and ok == asked, f"live API failed while full: {probe.errors}")
        row.check(alive, "the worker died")
        row.check(not data_files, f"the worker wrote to its data dir: {data_files[:3]}")
        row.check(time.monotonic() - failed_at > HOLD, "the failure was not held")
    assert row.passed, row
