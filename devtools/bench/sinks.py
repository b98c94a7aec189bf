"""Sink throughput against its ceiling: Lookout's writers vs the bare client call (``make bench``).

* ``pg_rows_s``: raw metric rows/s through Lookout's Postgres path (map Telegraf JSON messages,
  batch as the runner does, write: COPY in a transaction, the replay-safe fallback armed).
* ``pg_ceiling_rows_s``: the same rows, already built, by bare ``copy_records_to_table`` into a
  table of the same shape and indexes (``LIKE server_metrics INCLUDING ALL``).
* ``es_docs_s``: nginx access documents/s through Lookout's Elasticsearch path (map raw access
  lines, batch, ``_bulk`` with ids, per-item outcome).
* ``es_ceiling_docs_s``: the same documents, already serialised, by bare ``_bulk`` requests of
  the same size into indices with the same template.

Postgres: best of two rounds per side, alternating which side goes first (a shared server is
noisy). Everything runs in scratch space (a scratch database when the server allows it, else
rows tagged with a scratch topic; scratch index prefixes) removed at the end. osmem holds every
document in memory, so the Elasticsearch part uses ``min(n, es_max)`` documents.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames
from sinks.batch import Batch, Buffer
from sinks.elasticsearch import BULK_BYTES, BULK_DOCS, ElasticsearchWriter, chunks
from sinks.es_client import make_es_client
from sinks.es_docs import bulk_body
from sinks.es_templates import templates
from sinks.migrations import migrate
from sinks.pg_rows import COLUMNS
from sinks.postgres import PostgresWriter, merge

METRICS_PER_MESSAGE = 10
FIELDS_PER_METRIC = 10
LINES_PER_MESSAGE = 50
BATCH_MAX = 2000
BATCH_BYTES = 4 * 1024 * 1024
ES_MAX = 20_000


@dataclass(frozen=True, slots=True)
class _Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


def metric_messages(topic: str, rows: int, start: float) -> list[_Msg]:
    """Telegraf JSON batch messages holding ``rows`` numeric fields in all."""
    per_message = METRICS_PER_MESSAGE * FIELDS_PER_METRIC
    out: list[_Msg] = []
    for n in range((rows + per_message - 1) // per_message):
        host = f"host-{n % 50:03d}"
        left = min(per_message, rows - n * per_message)
        metrics = []
        for m in range((left + FIELDS_PER_METRIC - 1) // FIELDS_PER_METRIC):
            count = min(FIELDS_PER_METRIC, left - m * FIELDS_PER_METRIC)
            fields = {f"f{f}": (n * 7 + m * 3 + f) % 1000 / 10 for f in range(count)}
            tags = {"host": host, "cpu": f"cpu{m}"}
            metrics.append({"name": "cpu", "tags": tags, "fields": fields, "timestamp": start + n})
        value = orjson.dumps({"metrics": metrics})
        out.append(_Msg(topic, n % 8, n // 8, host.encode(), value, int(start * 1000)))
    return out


def access_messages(topic: str, docs: int, start: float) -> list[_Msg]:
    """Raw nginx access-line messages holding ``docs`` requests in all."""
    out: list[_Msg] = []
    lines: list[str] = []
    for n in range(docs):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + n // 100))
        status = (200, 200, 200, 304, 404, 502)[n % 6]
        lines.append(
            f'10.{n % 250}.{n // 250 % 250}.{n % 7 + 1} - - [{stamp}] "GET /api/items/{n % 977}'
            f'?page={n % 13} HTTP/1.1" {status} {n % 5000} "https://shop.example/" '
            f'"Mozilla/5.0 (X11; Linux x86_64)" 0.0{n % 90:02d} 0.0{n % 80:02d}'
        )
        if len(lines) == LINES_PER_MESSAGE or n == docs - 1:
            k = len(out)
            value = "\n".join(lines).encode()
            out.append(_Msg(topic, k % 8, k // 8, b"host-000", value, int(start * 1000)))
            lines = []
    return out


def batches(messages: Sequence[_Msg], mapper: Any) -> list[Batch[Any]]:
    """Map and batch ``messages`` as the runner does (message and byte budgets)."""
    out: list[Batch[Any]] = []
    buffer: Buffer[Any] = Buffer(mapper)
    for msg in messages:
        buffer.add(msg)
        if buffer.messages >= BATCH_MAX or buffer.size >= BATCH_BYTES:
            out.append(buffer.flush())
    if buffer.messages:
        out.append(buffer.flush())
    return out


async def bench_sinks(services: Services, n: int, *, es_max: int = ES_MAX) -> dict[str, float]:
    """Rows/s and docs/s of the sinks and of their ceilings (see the module docstring)."""
    run = uuid.uuid4().hex[:8]
    out = await _bench_postgres(services, n, run)
    out.update(await _bench_elasticsearch(services, min(n, es_max), run))
    return out


async def _bench_postgres(
    services: Services, n: int, run: str, rounds: int = 2
) -> dict[str, float]:
    """Best of ``rounds`` for each side, alternating which goes first (the server is shared)."""
    dsn, drop = await _scratch_database(services.postgres_dsn, run)
    conn = await asyncpg.connect(dsn)
    best = {"pg_rows_s": 0.0, "pg_ceiling_rows_s": 0.0}
    topics_used: list[str] = []
    try:
        for r in range(rounds):
            prefix = f"bench-{run}-{r}."
            topics = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": prefix}))
            topics_used.append(topics.metrics)
            messages = metric_messages(topics.metrics, n, time.time() - 3600)
            table = f"bench_ceiling_{run}_{r}"
            await conn.execute(f"CREATE TABLE {table} (LIKE server_metrics INCLUDING ALL)")
            sides = [_pg_lookout, _pg_ceiling] if r % 2 == 0 else [_pg_ceiling, _pg_lookout]
            for side in sides:
                name, rate = await side(dsn, conn, topics, messages, table, n)
                best[name] = max(best[name], rate)
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        return best
    finally:
        with contextlib.suppress(Exception):
            for r in range(rounds):
                await conn.execute(f"DROP TABLE IF EXISTS bench_ceiling_{run}_{r}")
            await conn.execute("DELETE FROM server_metrics WHERE src_topic = ANY($1)", topics_used)
        await conn.close()
        await drop()


async def _pg_lookout(
    dsn: str, conn: Any, topics: TopicNames, messages: list[_Msg], table: str, n: int
) -> tuple[str, float]:
    """Lookout's path: map (as the runner batches) and write."""
    writer = PostgresWriter(dsn, topics)
    await writer.setup()
    try:
        started = time.perf_counter()
        written = 0
        for batch in batches(messages, writer.map):
            result = await writer.write(batch)
            written += result.written.get("server_metrics", 0)
        elapsed = time.perf_counter() - started
    finally:
        await writer.close()
    if written != n:
        raise RuntimeError(f"bench: the Postgres writer stored {written} rows, not {n}")
    return "pg_rows_s", n / elapsed


async def _pg_ceiling(
    dsn: str, conn: Any, topics: TopicNames, messages: list[_Msg], table: str, n: int
) -> tuple[str, float]:
    """Bare copy_records_to_table of the same rows, built beforehand, in the same chunks."""
    mapper = PostgresWriter(dsn, topics).map
    rows = [merge(b.payloads()).get("server_metrics", []) for b in batches(messages, mapper)]
    started = time.perf_counter()
    for chunk in rows:
        await conn.copy_records_to_table(table, records=chunk, columns=COLUMNS["server_metrics"])
    return "pg_ceiling_rows_s", n / (time.perf_counter() - started)


async def _scratch_database(dsn: str, run: str) -> tuple[str, Any]:
    """A migrated scratch database and its dropper; the given one if CREATE DATABASE fails."""
    name = f"lookout_bench_{run}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.PostgresError:
        await conn.close()

        async def nothing() -> None:
            return None

        return dsn, nothing
    await conn.close()
    scratch = f"{dsn.rpartition('/')[0]}/{name}"
    await migrate(scratch, progress=lambda line: None)

    async def drop() -> None:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    return scratch, drop


async def _bench_elasticsearch(services: Services, n: int, run: str) -> dict[str, float]:
    prefix, ceiling_prefix = f"bench-{run}.", f"bench-ceiling-{run}."
    topics = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": prefix}))
    messages = access_messages(topics.logs_nginx, n, time.time() - 3600)
    writer = ElasticsearchWriter(
        services.elasticsearch_url,
        topics,
        embedded=services.embedded_es,
        group=f"bench-{run}",
        prefix=prefix,
        local_max_docs=10_000_000,  # the bench bounds its documents itself (es_max)
    )
    await writer.setup()
    es = make_es_client(services.elasticsearch_url, embedded=services.embedded_es)
    try:
        await writer.ensure_ready()
        for name, spec in templates(ceiling_prefix, writer.flavour).items():
            await es.indices.put_index_template(
                name=name,
                index_patterns=spec["index_patterns"],
                template=spec["template"],
                priority=spec["priority"],
            )
        started = time.perf_counter()
        planned = batches(messages, writer.map)
        written = 0
        for batch in planned:
            result = await writer.write(batch)
            written += sum(result.written.values())
        lookout = time.perf_counter() - started
        docs = [
            type(d)(ceiling_prefix + d.index[len(prefix) :], d.id, d.item, d.source)
            for b in planned
            for payload in b.payloads()
            for d in payload
        ]
        bodies = [bulk_body(chunk) for chunk in chunks(docs, BULK_DOCS, BULK_BYTES)]
        started = time.perf_counter()
        for body in bodies:
            resp = await es.bulk(operations=body, filter_path="errors")  # type: ignore[arg-type]
            if resp.body.get("errors"):
                raise RuntimeError("bench: the ceiling _bulk reported errors")
        ceiling = time.perf_counter() - started
        if written != n:
            raise RuntimeError(f"bench: the Elasticsearch writer stored {written} docs, not {n}")
        return {"es_docs_s": n / lookout, "es_ceiling_docs_s": n / ceiling, "es_docs": float(n)}
    finally:
        with contextlib.suppress(Exception):
            for pfx in (prefix, ceiling_prefix):
                await es.indices.delete(index=f"{pfx}logs-*", allow_no_indices=True)
                await es.indices.delete(index=f"{pfx}lookout-*", allow_no_indices=True)
                await es.indices.delete_index_template(name=f"{pfx}lookout-*")
        await es.close()
        await writer.close()
