"""Sinks on the real stack: exact counts for a fixed input, a replay changes nothing.

The worker runs with the sinks attached (``sinks.service.attach``, the way ``lookout worker``
runs them once wired), so it also checks the wiring: started after recovery, counters on the
worker's /metrics, stopped with the worker. The replay is a second sink group over the same
topics, run in-process: it rewrites every row and document, and no count moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.stats import Stats
from app.topics import TopicNames, ensure_topics
from devtools.bench.sinks import access_messages, batches
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import run
from sinks.elasticsearch import ElasticsearchWriter
from sinks.es_client import make_es_client
from sinks.es_templates import index_prefix
from sinks.service import SinkService
from tests.integration.test_sinks_support import (
    ATTACH_SCRIPT,
    ScriptWorker,
    dead_letters,
    es_counts,
    expected_counts,
    fresh_database,
    pg_counts,
    sim_records,
    wait_for,
    windows_in_topic,
)
from tests.integration.workers import worker_env

pytestmark = pytest.mark.integration

COUNT = 400  # simulator messages
RAW = ("server_metrics", "error_logs", "application_logs")
DOCS = ("es_access", "es_error", "es_app")
WINDOWS = ("aggregated_metrics", "error_rates")


def recent_start() -> datetime:
    """An hour ago on a 10-minute boundary: recent enough for retention, fixed for the run."""
    now = int(time.time())
    return datetime.fromtimestamp(now - 3600 - now % 600, UTC)


async def test_counts_are_exact_and_a_replay_changes_nothing(
    stack_services: Services, topic_prefix: str, tmp_path: Path
) -> None:
    dsn = await fresh_database(stack_services.postgres_dsn)
    env = worker_env(
        stack_services,
        topic_prefix,
        postgres_dsn=dsn,
        idle_timeout="2",
        sink_linger="0.2",
        sinks="all",
    )
    settings = load_settings(env)
    names = TopicNames.from_settings(settings)
    prefix = index_prefix(topic_prefix)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    worker = ScriptWorker(env, tmp_path, "w-sinks", ATTACH_SCRIPT)
    await asyncio.to_thread(worker.start)
    try:
        opts = SimOptions(hosts=3, services=2, count=COUNT, seed=11, start=recent_start())
        await run(settings, opts, stack_services.bootstrap_servers)
        # One access line that the ES `ip` mapping refuses: a dead letter, not a stall.
        t = opts.start.timestamp() + 30 if opts.start else 0.0
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
        bad = f'not-an-ip - - [{stamp}] "GET /x HTTP/1.1" 200 5 "-" "curl/8"'.encode()
        producer = AIOKafkaProducer(bootstrap_servers=stack_services.bootstrap_servers)
        await producer.start()
        try:
            meta = await producer.send_and_wait(names.logs_nginx, bad, key=b"host-000")
        finally:
            await producer.stop()

        want = expected_counts(sim_records(opts, COUNT))
        assert all(want[k] > 0 for k in (*RAW, *DOCS)), want

        async def stored() -> bool:
            # Idle hosts' last windows close as wall time moves their watermark on (hopping
            # windows up to size + grace after the last record): compare with the topic now.
            windows = await windows_in_topic(stack_services.bootstrap_servers, names.windows)
            need = want + windows
            got = await pg_counts(dsn, topic_prefix) + await es_counts(
                stack_services.elasticsearch_url, prefix
            )
            wrong = {k: (got[k], need[k]) for k in (*RAW, *DOCS, *WINDOWS) if got[k] != need[k]}
            assert not wrong, f"(stored, expected) differ: {wrong}"
            return True

        await wait_for(stored, 90, "sinks inside the worker store the whole input")
        up = {"up": True, "failing_since": None, "error": None}
        health = await asyncio.to_thread(worker.get, "/api/health")
        assert health["sinks"] == {"postgres": up, "elasticsearch": up}
        docs = await es_counts(stack_services.elasticsearch_url, prefix)
        for key in DOCS:
            assert docs[key] == want[key], key

        # The refused document went to the dead-letter topic with the server's reason.
        letters = await dead_letters(stack_services.bootstrap_servers, names.deadletter)
        refused = [d for d in letters if d["reason"] == "elasticsearch_rejected"]
        assert [(d["topic"], d["partition"], d["offset"], d["item"]) for d in refused] == [
            (names.logs_nginx, meta.partition, meta.offset, 0)
        ]
        assert "client_ip" in refused[0]["detail"] and refused[0]["original"] == bad.decode()

        # The worker serves the sinks' counters.
        with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert 'lookout_sink_rows_written_total{sink="postgres",table="server_metrics"}' in text
        assert 'lookout_sink_up{sink="elasticsearch"} 1' in text
    finally:
        await asyncio.to_thread(worker.stop)
    assert "Traceback" not in worker.tail(400)
    # The worker closes no more windows: the topic holds the final set.
    want.update(await windows_in_topic(stack_services.bootstrap_servers, names.windows))
    first = await pg_counts(dsn, topic_prefix)
    for key in RAW:
        assert first[key] == want[key], key

    # Replay: a second sink group reads every topic from the start and writes it all again.
    replay_settings = load_settings({**env, "LOOKOUT_APP_ID": env["LOOKOUT_APP_ID"] + "-replay"})
    stats = Stats()
    service = SinkService(
        replay_settings, dataclasses.replace(stack_services, postgres_dsn=dsn), stats
    )
    await service.start()
    try:

        async def rewritten() -> bool:
            def rows(table: str) -> float:
                return stats.get("lookout_sink_rows_written_total", sink="postgres", table=table)

            def docs_of(family: str) -> float:
                return stats.get(
                    "lookout_sink_rows_written_total", sink="elasticsearch", table=family
                )

            return (
                all(rows(t) == want[t] for t in (*RAW, *WINDOWS))
                and docs_of("logs-nginx") == want["es_access"] + want["es_error"]
                and docs_of("logs-app") == want["es_app"]
            )

        await wait_for(rewritten, 60, "the replay group rewrites every row and document")
    finally:
        await service.stop()
    after = await pg_counts(dsn, topic_prefix)
    assert [after[t] for t in RAW] == [first[t] for t in RAW]
    # every final window on the topic is one row, whether the worker's sinks or the replay wrote it
    assert [after[t] for t in WINDOWS] == [want[t] for t in WINDOWS]
    assert await es_counts(stack_services.elasticsearch_url, prefix) == docs
    assert stats.get("lookout_sink_deadletter_total", sink="elasticsearch") == 1

    # Retention (hourly in the service): 30 days on, every raw row is past LOOKOUT_RETENTION_DAYS.
    later = SinkService(
        replay_settings,
        dataclasses.replace(stack_services, postgres_dsn=dsn),
        Stats(),
        clock=lambda: time.time() + 30 * 86400,
    )
    assert await later.run_retention() == {t: want[t] for t in RAW}
    left = await pg_counts(dsn, topic_prefix)
    assert [left[t] for t in RAW] == [0, 0, 0]
    assert left["aggregated_metrics"] == after["aggregated_metrics"]  # windows are kept


async def test_osmem_keeps_only_the_newest_days_and_documents(
    stack_services: Services, topic_prefix: str
) -> None:
    names = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": topic_prefix}))
    prefix = index_prefix(topic_prefix)
    writer = ElasticsearchWriter(
        stack_services.elasticsearch_url,
        names,
        embedded=stack_services.embedded_es,
        group="cap-test",
        prefix=prefix,
        local_max_days=2,
        local_max_docs=300,
    )
    await writer.setup()
    es = make_es_client(stack_services.elasticsearch_url, embedded=True)
    try:
        await writer.ensure_ready()
        assert writer.osmem
        day0 = 1_700_000_000 - 1_700_000_000 % 86400 + 3600
        messages = [
            dataclasses.replace(m, offset=m.offset + 1000 * day)
            for day in range(5)
            for m in access_messages(names.logs_nginx, 100, day0 + day * 86400)
        ]
        for batch in batches(messages, writer.map):
            await writer.write(batch)
        await writer.maintain()
        kept = await es.indices.get(index=f"{prefix}logs-nginx-*")
        days = [time.strftime("%Y.%m.%d", time.gmtime(day0 + d * 86400)) for d in (3, 4)]
        assert sorted(kept.body) == [f"{prefix}logs-nginx-{day}" for day in days]
        assert (await es.count(index=f"{prefix}logs-*")).body["count"] == 200
        # 400 more on the newest day: the writer trims to the cap on its own, newest kept.
        late = [
            dataclasses.replace(m, offset=m.offset + 9000)
            for m in access_messages(names.logs_nginx, 400, day0 + 4 * 86400 + 600)
        ]
        for batch in batches(late, writer.map):
            await writer.write(batch)
        await es.indices.refresh(index=f"{prefix}logs-*")
        assert (await es.count(index=f"{prefix}logs-*")).body["count"] <= 300
        newest = await es.search(index=f"{prefix}logs-*", sort=[{"@timestamp": "desc"}], size=1)
        last = time.strftime("%Y-%m-%dT%H:", time.gmtime(day0 + 4 * 86400 + 600))
        assert newest.body["hits"]["hits"][0]["_source"]["@timestamp"].startswith(last)
    finally:
        await es.indices.delete(index=f"{prefix}*", allow_no_indices=True)
        await es.close()
        await writer.close()
