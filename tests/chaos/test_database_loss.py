"""Database connection loss: Postgres stopped 60 s, the Postgres sink's connections killed
mid-COPY, Elasticsearch (osmem) stopped 60 s; every row, document and window row exact after.

Load: the simulator live the whole time (3 hosts, 2 services, 2 msgs/s, event time at 20x, the
demo timeline's incidents every 30 s of wall time), plus a burst of 1,500 metric messages
(40 hosts, ~4.5 MB, ~150k rows) while Postgres is away and another one to keep the Postgres
sink in COPYs while its backends are killed with ``pg_terminate_backend``. Windows and alerts
run in a worker with ``LOOKOUT_SINKS=none``; the sinks run in a process of their own (1 MiB
batches, so the burst is several; default retries), so their memory is measured apart. While
each store is away the worker's live API is polled and alert transitions must keep coming; the
stalled sink must hold one batch (the rest waits in Kafka). The quick version that CI runs is
tests/integration/test_sinks_outage.py (30 s outages, no kills).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import SimStats, run
from devtools.stack import LocalStack
from sinks.es_templates import index_prefix
from sinks.migrations import migrate
from tests.chaos.probes import ApiProbe
from tests.chaos.rows import Row, Sampler, recorded
from tests.integration.test_sinks_outage import DOCS, RAW, SinkProcess, alert_records, rows
from tests.integration.test_sinks_support import (
    es_counts,
    expected_counts,
    pg_counts,
    sim_records,
    stat,
    wait_for,
    windows_in_topic,
    worker_windows_settled,
)
from tests.integration.workers import Worker, worker_env

OUTAGE = 60.0
KILLS = 3
BURST = 1500  # metric messages (40 hosts, ~150k rows, ~4.5 MB)
BATCH_BYTES = 1_048_576  # LOOKOUT_SINK_BATCH_BYTES: the burst is several batches
MB = 1024 * 1024
# The stalled sink holds one batch (BATCH_BYTES) and its mapped rows; its RSS may grow by this
# much while a store is away, never with the backlog.
RSS_BOUND_MB = 64.0
PREFIX = "d."
SINK_APP = "lookout-sink-postgres"  # application_name of the Postgres sink's connections
TABLES = (*RAW, "aggregated_metrics", "error_rates")


def rss(data: dict[str, object]) -> float:
    """The sink process's resident memory in a stats dump, bytes."""
    return float(data["rss"])  # type: ignore[arg-type]


class SinkWatch(Sampler):
    """Samples the sink process while a store is away: peak RSS and batch bytes, down seen."""

    every = 0.25

    def __init__(self, sinks: SinkProcess) -> None:
        self.sinks = sinks
        self.peak_rss = 0.0
        self.peak_batch = 0.0
        self.down_seen: set[str] = set()

    async def sample(self) -> None:
        """Read the sink process's last stats dump."""
        data = await asyncio.to_thread(self.sinks.stats)
        self.peak_rss = max(self.peak_rss, rss(data))
        for sink in ("postgres", "elasticsearch"):
            if stat(data, "lookout_sink_up", sink=sink) == 0:
                self.down_seen.add(sink)
            held = stat(data, "lookout_sink_buffered_bytes", sink=sink)
            self.peak_batch = max(self.peak_batch, held)


def written(data: dict[str, Any], sink: str) -> float:
    """Rows or documents ``sink`` has written so far, all tables."""
    return sum(
        float(value)
        for (name, labels), value in data["values"].items()
        if name == "lookout_sink_rows_written_total" and ("sink", sink) in labels
    )


async def writing_again(sinks: SinkProcess, sink: str, since: float) -> float:
    """Seconds from ``since`` until ``sink`` is up and has written rows again."""
    before = written(await asyncio.to_thread(sinks.stats), sink)

    async def resumed() -> bool:
        data = await asyncio.to_thread(sinks.stats)
        return stat(data, "lookout_sink_up", sink=sink) == 1 and written(data, sink) > before

    await wait_for(resumed, 180, f"the {sink} sink writing again", every=0.2)
    return time.monotonic() - since


async def kill_copies(dsn: str, kills: int, timeout: float) -> list[str]:
    """Terminate the Postgres sink's backend ``kills`` times while it runs a COPY (one statement
    finds and kills it, so the COPY is in flight); returns the statements cut."""
    conn = await asyncpg.connect(dsn)
    cut: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while len(cut) < kills and time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT pg_terminate_backend(pid) AS killed, left(query, 40) AS query"
                " FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'"
                " AND query ILIKE 'COPY%' LIMIT 1",
                SINK_APP,
            )
            if row is not None and row["killed"]:
                cut.append(row["query"])
                await asyncio.sleep(3)  # let the sink reconnect and write once in between
            else:
                await asyncio.sleep(0.005)
    finally:
        await conn.close()
    return cut


async def test_database_loss(chaos_stack: tuple[LocalStack, Services], tmp_path: Path) -> None:
    stack, services = chaos_stack
    env = worker_env(services, PREFIX, idle_timeout="2")  # windows and alerts, no sinks
    settings = load_settings(env)
    bootstrap = services.bootstrap_servers
    await ensure_topics(settings, bootstrap)
    await migrate(services.postgres_dsn, progress=lambda line: None)
    worker = Worker(env, tmp_path, "w-windows")
    # osmem's local document cap (a memory guard of the embedded stack) would delete documents
    # the count needs; a 1 MiB batch makes the burst several batches; the rest is default.
    sinks = SinkProcess(
        {
            **env,
            "LOOKOUT_SINKS": "all",
            "LOOKOUT_ES_LOCAL_MAX_DOCS": "10000000",
            "LOOKOUT_SINK_BATCH_BYTES": str(BATCH_BYTES),
        },
        tmp_path,
    )
    now = int(time.time())
    start = datetime.fromtimestamp(now - 7200 - now % 600, UTC)
    live = SimOptions(hosts=3, services=2, rate=2.0, speed=20.0, seed=5, start=start)
    bursts = [
        SimOptions(hosts=40, services=1, rate=0.0, app_logs=False, count=BURST, seed=s, start=start)
        for s in (9, 11)
    ]
    row = Row(
        "database loss",
        f"simulator 3 hosts at 2 msgs/s (event time 20x) + 2 bursts of {BURST:,} msgs (40 "
        "hosts, ~150k rows each); sinks in their own process, 1 MiB batches, default retries",
        f"Postgres stopped {OUTAGE:.0f} s; its sink's backend killed {KILLS}x mid-COPY "
        f"(pg_terminate_backend); osmem stopped {OUTAGE:.0f} s (comes back empty)",
    )
    with recorded(row):
        sinks.start()
        await asyncio.to_thread(worker.start)
        stop_sim = asyncio.Event()
        sim = asyncio.create_task(run(settings, live, bootstrap, stop=stop_sim))
        burst_stats: list[SimStats] = []
        host = "host-000"
        paths = ["/api/health", "/api/hosts", "/api/alerts", f"/api/hosts/{host}/windows"]
        seen: dict[str, dict[str, float]] = {}
        recovered: dict[str, float] = {}
        cut: list[str] = []
        failures = 0.0
        try:
            with ApiProbe(worker, paths) as probe:

                async def both_writing() -> bool:
                    data = await asyncio.to_thread(sinks.stats)
                    return all(written(data, s) > 0 for s in ("postgres", "elasticsearch"))

                await wait_for(both_writing, 90, "both sinks write before the outages")
                base_rss = rss(await asyncio.to_thread(sinks.stats))
                for part, sink in (("postgres", "postgres"), ("osmem", "elasticsearch")):
                    probe.phase = part
                    windows0 = (await asyncio.to_thread(worker.get, "/api/health"))[
                        "windows_closed"
                    ]
                    alerts0 = await asyncio.to_thread(alert_records, worker)
                    other = "elasticsearch" if sink == "postgres" else "postgres"
                    other_table = "logs-nginx" if other == "elasticsearch" else "server_metrics"
                    other0 = rows(await asyncio.to_thread(sinks.stats), other, other_table)
                    await asyncio.to_thread(stack.stop_part, part)
                    down_at = time.monotonic()
                    with SinkWatch(sinks) as watch:
                        if part == "postgres":
                            burst_stats.append(await run(settings, bursts[0], bootstrap))
                        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
                    health = await asyncio.to_thread(worker.get, "/api/health")
                    data = await asyncio.to_thread(sinks.stats)
                    seen[part] = {
                        "windows": health["windows_closed"] - windows0,
                        "alerts": await asyncio.to_thread(alert_records, worker) - alerts0,
                        "other": rows(data, other, other_table) - other0,
                        "rss_mb": (watch.peak_rss - base_rss) / MB,
                        "batch_mb": watch.peak_batch / MB,
                        "down_seen": float(sink in watch.down_seen),
                    }
                    await asyncio.to_thread(stack.start_part, part)
                    back = time.monotonic()
                    probe.phase = f"{part} back"
                    recovered[part] = await writing_again(sinks, sink, back)

                    if part == "postgres":
                        # the sink busy with a burst: kill its backend while it COPYs
                        probe.phase = "kills"
                        failures0 = stat(
                            await asyncio.to_thread(sinks.stats),
                            "lookout_sink_failures_total",
                            sink="postgres",
                            kind="transient",
                        )
                        killer = asyncio.create_task(kill_copies(services.postgres_dsn, KILLS, 120))
                        burst_stats.append(await run(settings, bursts[1], bootstrap))
                        cut = await killer
                        failures = (
                            stat(
                                await asyncio.to_thread(sinks.stats),
                                "lookout_sink_failures_total",
                                sink="postgres",
                                kind="transient",
                            )
                            - failures0
                        )
                probe.phase = "after"
        finally:
            stop_sim.set()
            live_stats = await sim

        try:
            want = expected_counts(sim_records(live, live_stats.messages))
            for opts, sent in zip(bursts, burst_stats, strict=False):
                want += expected_counts(sim_records(opts, sent.messages))
            await worker_windows_settled(worker)
            # Stopped, the worker closes no more windows: the topic holds the final set.
            await asyncio.to_thread(worker.stop)
            # (the durable broker can take seconds to answer a consumer's first fetch)
            windows = settings.topic("lookout.windows")
            want.update(await windows_in_topic(bootstrap, windows, quiet=10.0))
            prefix = index_prefix(PREFIX)
            keys = (*TABLES, *DOCS)

            async def stored() -> Counter[str]:
                got = await pg_counts(services.postgres_dsn, PREFIX)
                got += await es_counts(services.elasticsearch_url, prefix)
                return got

            async def complete() -> bool:
                got = await stored()
                return all(got[k] == want[k] for k in keys)

            settled = time.monotonic()
            with contextlib.suppress(AssertionError):  # the row says what differs
                await wait_for(complete, 300, "every row and document stored after the outages")
            caught_up = time.monotonic() - settled
            got = await stored()
            final = await asyncio.to_thread(sinks.stats)
        finally:
            code = await asyncio.to_thread(sinks.stop)
            await asyncio.to_thread(worker.stop)

        sent_msgs = live_stats.messages + sum(b.messages for b in burst_stats)
        row.sent = sent_msgs
        row.windowed = want["aggregated_metrics"] + want["error_rates"]
        row.postgres = sum(got[k] for k in TABLES)
        row.elasticsearch = sum(got[k] for k in DOCS)
        row.recover_s = max(recovered.values(), default=None)
        row.peak_mb = rss(final) / MB
        pg, es = seen.get("postgres", {}), seen.get("osmem", {})
        row.user_saw = (
            f"live API answered {probe.text('postgres', 'kills', 'osmem')} while a store was "
            f"away or its sink killed; alert transitions while Postgres away "
            f"{pg.get('alerts', 0):.0f}, while osmem away {es.get('alerts', 0):.0f}; windows "
            f"closed meanwhile {pg.get('windows', 0):.0f} / {es.get('windows', 0):.0f}; the "
            f"other sink kept writing ({pg.get('other', 0):.0f} docs / "
            f"{es.get('other', 0):.0f} rows); sinks wrote again "
            f"{recovered.get('postgres', 0):.0f} s (Postgres) and "
            f"{recovered.get('osmem', 0):.0f} s (osmem) after the return; {len(cut)} COPYs cut, "
            f"{failures:.0f} write failures retried; stalled sink held <= "
            f"{max(pg.get('batch_mb', 0), es.get('batch_mb', 0)):.1f} MB, RSS +"
            f"{max(pg.get('rss_mb', 0), es.get('rss_mb', 0)):.0f} MB; all stored "
            f"{caught_up:.0f} s after the input ended; messages {sent_msgs:,} "
            f"({live_stats.messages:,} live + bursts)"
        )
        row.compared(got, want, keys)
        ok, asked = probe.answered("postgres", "kills", "osmem")
        row.check(asked > 0 and ok == asked, f"live API failed: {probe.errors}")
        for part in ("postgres", "osmem"):
            s = seen.get(part, {})
            row.check(s.get("alerts", 0) > 0, f"no alert transition while {part} was away")
            row.check(s.get("windows", 0) > 0, f"no window closed while {part} was away")
            row.check(s.get("other", 0) > 0, f"the other sink stalled while {part} was away")
            row.check(s.get("down_seen", 0) == 1, f"the sink never reported {part} down")
            row.check(
                s.get("rss_mb", 0) < RSS_BOUND_MB,
                f"sink RSS grew {s.get('rss_mb', 0):.0f} MB while {part} was away",
            )
        row.check(
            max(pg.get("batch_mb", 0), es.get("batch_mb", 0)) * MB <= 2 * settings.sink_batch_bytes,
            "a stalled sink held more than two batches",
        )
        row.check(len(cut) == KILLS, f"only {len(cut)} of {KILLS} COPYs were caught and killed")
        row.check(failures >= len(cut), f"{len(cut)} kills but {failures:.0f} failures counted")
        row.check(
            stat(final, "lookout_sink_rewinds_total", sink="elasticsearch") > 0,
            "the Elasticsearch sink did not rewrite what osmem lost",
        )
        for sink in ("postgres", "elasticsearch"):
            dead = stat(final, "lookout_sink_deadletter_total", sink=sink)
            row.check(dead == 0, f"{dead:.0f} {sink} dead letters")
        row.check(code == 0, f"the sink process exited {code}")
        row.check("Traceback" not in sinks.tail(5000), "a traceback in the sink log")
    assert row.passed, row
