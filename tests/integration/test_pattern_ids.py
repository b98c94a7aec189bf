"""Pattern ids on stored log lines, on the real stack: worker -> lookout.patterns -> sinks.

A worker with both sinks attached mines app lines and nginx error entries of known templates
(some sent without a key, with lines of two hosts in one message, so they are forwarded through
``lookout.rekey`` and their ids come from the other partition's worker). Every stored
Elasticsearch document and Postgres row of a mined kind must carry the ``pattern_id`` that
``/api/logs/patterns`` lists for its template, search by ``pattern_id`` must return exactly the
lines of that template, and a second sink group replaying from offset 0 (into other indices and
another database) must write the same ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.stats import Stats
from app.topics import TopicNames, ensure_topics
from devtools.bench.logsearch import drop
from sinks.es_client import make_es_client
from sinks.es_templates import index_prefix
from sinks.service import SinkService
from tests.integration.api_client import call
from tests.integration.test_sinks_support import fresh_database, wait_for
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

HOSTS = [f"web-{n}" for n in range(6)]
# marker word -> template; every line of a template holds its marker, no other template does
APP_TEMPLATES = {
    "declined": "order {n} failed: card declined by bank {m}",
    "logged": "user u{n} logged in from 10.1.{m}.7",
    "miss": "cache miss for key item:{n} after {m}ms",
    "refunded": "payment 3f2a{n:04d}-aaaa-4bbb-8ccc-{m:012d} refunded",
}
NGINX_TEMPLATES = {
    "refused": "connect() failed (111: Connection refused) while connecting to upstream, "
    'client: 10.0.{m}.1, server: shop, request: "GET /api/items/{n} HTTP/1.1"',
    "timed": "upstream timed out (110: Connection timed out) while reading response header "
    "from upstream, client: 10.0.{m}.2, server: shop",
}
MARKERS = {**{k: "app" for k in APP_TEMPLATES}, **{k: "nginx" for k in NGINX_TEMPLATES}}
KEYED, UNKEYED = 160, 20


def template_of(message: str) -> str:
    found = [marker for marker in MARKERS if marker in message]
    assert len(found) == 1, message
    return found[0]


def app_line(rng: random.Random, host: str, ts: float) -> bytes:
    marker = rng.choice(list(APP_TEMPLATES))
    message = APP_TEMPLATES[marker].format(n=rng.randrange(10_000), m=rng.randrange(200))
    record = {"timestamp": ts, "level": "error", "service": "shop", "host": host}
    return orjson.dumps({**record, "message": message})


def nginx_entry(rng: random.Random, ts: float) -> bytes:
    marker = rng.choice(list(NGINX_TEMPLATES))
    message = NGINX_TEMPLATES[marker].format(n=rng.randrange(10_000), m=rng.randrange(200))
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ts))
    return f"{stamp} [error] 7#7: *{rng.randrange(999)} {message}".encode()


async def produce(bootstrap: str, topics: TopicNames, start: float) -> Counter[str]:
    """Keyed app and nginx messages, and unkeyed app messages with two hosts' lines each."""
    rng = random.Random(17)
    sent: Counter[str] = Counter()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(KEYED):
            host, ts = HOSTS[n % len(HOSTS)], start + n * 0.5
            if n % 3:
                await producer.send(topics.logs_app, app_line(rng, host, ts), key=host.encode())
                sent["app"] += 1
            else:
                entries = b"\n".join(nginx_entry(rng, ts + i) for i in range(1 + n % 2))
                await producer.send(topics.logs_nginx, entries, key=host.encode())
                sent["nginx"] += 1 + n % 2
        for n in range(UNKEYED):  # two hosts per message: at least one line is forwarded
            ts = start + n
            lines = [app_line(rng, HOSTS[(n + k) % len(HOSTS)], ts) for k in (0, 1)]
            await producer.send(topics.logs_app, b"\n".join(lines), partition=n % 4)
            sent["app"] += 2
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def es_docs(services: Services, prefix: str) -> dict[str, dict[str, Any]]:
    """Every log document of ``prefix``'s indices by its id."""
    es = make_es_client(services.elasticsearch_url, embedded=services.embedded_es)
    try:
        await es.indices.refresh(index=f"{prefix}logs-*", allow_no_indices=True)
        found = await es.search(index=f"{prefix}logs-*", size=10_000, query={"match_all": {}})
        return {hit["_id"]: hit["_source"] for hit in found.body["hits"]["hits"]}
    finally:
        await es.close()


async def pg_ids(dsn: str) -> dict[str, str | None]:
    """``log id -> pattern_id`` of every error_logs and application_logs row."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT src_topic, src_partition, src_offset, item, pattern_id FROM error_logs "
            "UNION ALL SELECT src_topic, src_partition, src_offset, item, pattern_id "
            "FROM application_logs"
        )
    finally:
        await conn.close()
    return {f"{r[0]}-{r[1]}-{r[2]}-{r[3]}": r[4] for r in rows}


def mined(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The documents of mined kinds: app records and nginx error entries."""
    return {k: d for k, d in docs.items() if d.get("type") != "access"}


class ReplayService(SinkService):
    """A second sink group writing to other indices (and, by its settings, another database)."""

    es_prefix = ""

    def writer(self, name: str) -> Any:
        writer = super().writer(name)
        if name == "elasticsearch":
            writer.prefix = self.es_prefix
            writer.markers = f"{self.es_prefix}lookout-sink-markers"
            writer._mapper.prefix = self.es_prefix
        return writer


async def test_stored_lines_carry_the_pattern_ids_the_worker_mined(
    stack_services: Services, topic_prefix: str, tmp_path: Path
) -> None:
    dsn = await fresh_database(stack_services.postgres_dsn)
    env = worker_env(stack_services, topic_prefix, postgres_dsn=dsn, sinks="all", sink_linger="0.2")
    settings = load_settings(env)
    topics = TopicNames.from_settings(settings)
    prefix = index_prefix(topic_prefix)
    replay_prefix = f"rp{uuid.uuid4().hex[:8]}."
    await ensure_topics(settings, stack_services.bootstrap_servers)
    worker = Worker(env, tmp_path, name="patterns")
    await asyncio.to_thread(worker.start)
    try:
        start = time.time() - 600
        sent = await produce(stack_services.bootstrap_servers, topics, start)

        async def stored() -> dict[str, dict[str, Any]]:
            docs = mined(await es_docs(stack_services, prefix))
            rows = await pg_ids(dsn)
            want = sent["app"] + sent["nginx"]
            assert len(docs) == want and len(rows) == want, (len(docs), len(rows), want)
            return docs

        docs = await wait_for(stored, 90, "the sinks store every mined line")
        patterns = worker.get("/api/logs/patterns")["patterns"]
        assert worker.metric("lookout_sink_pattern_unresolved_total") == 0
        assert worker.metric("lookout_rekeyed_total") > 0  # some lines were forwarded

        # every line has the id the API lists for its template; one id per template
        listed = {p["pattern_id"]: template_of(p["example"]) for p in patterns}
        by_template: dict[str, set[str]] = {}
        for log_id, doc in docs.items():
            pid = doc.get("pattern_id")
            assert pid in listed, (log_id, doc)
            assert listed[pid] == template_of(doc["message"]), (log_id, doc["message"])
            by_template.setdefault(template_of(doc["message"]), set()).add(pid)
        assert {t: len(ids) for t, ids in by_template.items()} == {t: 1 for t in MARKERS}
        rows = await pg_ids(dsn)
        assert rows == {log_id: doc["pattern_id"] for log_id, doc in docs.items()}

        # search by pattern_id returns exactly that template's lines
        for template, (pid,) in by_template.items():
            query = {
                "pattern_id": pid,
                "limit": "1000",
                "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 60)),
                "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60)),
            }
            url = f"{worker.url}/api/logs/search?{urllib.parse.urlencode(query)}"
            reply = call("GET", url)
            assert reply.status == 200, reply.text
            found = {e["doc"]["log_id"] for e in reply.json()["entries"]}
            want = {k for k, d in docs.items() if template_of(d["message"]) == template}
            assert found == want, template
    finally:
        await asyncio.to_thread(worker.stop)
    assert "Traceback" not in worker.tail(400)

    # a second sink group from offset 0, into other indices and another database: same ids
    replay_dsn = await fresh_database(stack_services.postgres_dsn)
    replay_env = {**env, "LOOKOUT_APP_ID": env["LOOKOUT_APP_ID"] + "-replay"}
    stats = Stats()
    service = ReplayService(
        load_settings(replay_env),
        dataclasses.replace(stack_services, postgres_dsn=replay_dsn),
        stats,
    )
    service.es_prefix = replay_prefix
    await service.start()
    try:

        async def replayed() -> bool:
            again = mined(await es_docs(stack_services, replay_prefix))
            return len(again) == len(docs) and len(await pg_ids(replay_dsn)) == len(docs)

        await wait_for(replayed, 90, "the replay group stores every mined line")
    finally:
        await service.stop()
    again = mined(await es_docs(stack_services, replay_prefix))
    assert {k: d["pattern_id"] for k, d in again.items()} == {
        k: d["pattern_id"] for k, d in docs.items()
    }
    assert await pg_ids(replay_dsn) == await pg_ids(dsn)
    assert stats.get("lookout_sink_pattern_unresolved_total", sink="elasticsearch") == 0
    assert stats.get("lookout_sink_pattern_unresolved_total", sink="postgres") == 0
    for name in (prefix, replay_prefix):
        await drop(stack_services, name)
