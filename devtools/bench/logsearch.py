"""Log search latency at osmem's document cap: ``python -m devtools.bench.logsearch``.

Loads ``LOOKOUT_ES_LOCAL_MAX_DOCS`` documents (app records and nginx access lines, half each)
through the real sink path (map, batch, ``ElasticsearchWriter.write``) into scratch indices, then
times the API's own search code (:class:`sinks.log_search.LogSearch`) on realistic shapes: the
first page, a deep page reached by cursor, filtered pages, free text with highlights, and
statistics. Prints p50/p95/max per shape, over the search shapes (``search``: the target is a
p95 under 300 ms) and overall (ms, client side, one request at a time).
The data set generator is shared with tests/integration/test_logs_api.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from app.services import Services, resolve_services
from app.settings import load_settings
from app.topics import TopicNames
from devtools.bench.sinks import _Msg as Msg
from devtools.bench.sinks import access_messages, batches
from logsearch.params import parse_search, parse_stats
from logsearch.query import iso
from sinks.elasticsearch import ElasticsearchWriter
from sinks.es_client import make_es_client
from sinks.log_search import LogSearch

LEVELS = ("error", "warn", "info", "info", "debug")
SERVICES = ("api", "billing", "auth")
WORDS = ("payment", "timeout", "refused", "login", "cache", "retry", "upstream")
RECORDS_PER_MESSAGE = 10
SEARCH_SHAPES = ("first_page", "filtered", "text_highlight", "status_5xx", "deep_page_21")


def app_record(n: int, start: float, step: float) -> dict[str, Any]:
    """The ``n``-th application record of the data set."""
    rec: dict[str, Any] = {
        "timestamp": start + n * step,
        "level": LEVELS[n % len(LEVELS)],
        "service": SERVICES[n % len(SERVICES)],
        "host": f"h{n % 4}",
        "message": f"{WORDS[n % len(WORDS)]} {n} for user{n % 5} on db{n % 3}",
    }
    return rec


def app_messages(
    topic: str, count: int, start: float, step: float = 1.0, per_message: int = 1
) -> list[Msg]:
    """Application log messages holding ``count`` records in all (NDJSON when several)."""
    out: list[Msg] = []
    for first in range(0, count, per_message):
        recs = [app_record(n, start, step) for n in range(first, min(count, first + per_message))]
        value = b"\n".join(orjson.dumps(r) for r in recs)
        k = len(out)
        out.append(Msg(topic, k % 4, k // 4, b"h", value, int(start * 1000)))
    return out


async def load(services: Services, topics: TopicNames, prefix: str, messages: list[Msg]) -> int:
    """Write ``messages`` through the Elasticsearch sink; the number of documents stored."""
    writer = ElasticsearchWriter(
        services.elasticsearch_url,
        topics,
        embedded=services.embedded_es,
        group=f"logsearch-{prefix}",
        prefix=prefix,
        local_max_docs=10_000_000,
    )
    await writer.setup()
    written = 0
    try:
        for batch in batches(messages, writer.map):
            result = await writer.write(batch)
            if result.retry is not None or result.rejected:
                raise RuntimeError(f"bench: the sink did not store a batch ({result.retry_reason})")
            written += sum(result.written.values())
    finally:
        await writer.close()
    es = make_es_client(services.elasticsearch_url, embedded=services.embedded_es)
    try:
        await es.indices.refresh(index=f"{prefix}logs-*")
    finally:
        await es.close()
    return written


async def drop(services: Services, prefix: str) -> None:
    """Remove the scratch indices and templates of ``prefix``."""
    es = make_es_client(services.elasticsearch_url, embedded=services.embedded_es)
    try:
        with contextlib.suppress(Exception):
            for pattern in ("logs-*", "lookout-*"):
                await es.indices.delete(index=prefix + pattern, allow_no_indices=True)
            await es.indices.delete_index_template(name=f"{prefix}lookout-*")
    finally:
        await es.close()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def measure(search: LogSearch, span: tuple[str, str], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per request of every shape, ``rounds`` times each."""
    start, end = span
    base = {"from": [start], "to": [end]}
    shapes: dict[str, Callable[[], Awaitable[Any]]] = {}

    def page(extra: dict[str, list[str]]) -> Callable[[], Awaitable[Any]]:
        return lambda: search.search(parse_search({**base, **extra}, time.time()))

    shapes["first_page"] = page({"limit": ["100"]})
    shapes["filtered"] = page({"level": ["error"], "service": ["api"], "limit": ["100"]})
    shapes["text_highlight"] = page({"q": ["payment user3"], "limit": ["50"]})
    shapes["status_5xx"] = page({"source": ["nginx"], "status_class": ["5xx"], "limit": ["100"]})
    first = await search.search(parse_search({**base, "limit": ["100"]}, time.time()))
    cursor = first["cursor"]
    for _ in range(20):  # 21st page: ~2,000 documents deep
        cursor = (
            await search.search(parse_search({**base, "limit": ["100"], "cursor": [cursor]}, 0))
        )["cursor"]
    shapes["deep_page_21"] = page({"limit": ["100"], "cursor": [cursor]})
    shapes["stats_level"] = lambda: search.stats(parse_stats({**base, "split": ["level"]}, 0))
    shapes["stats_service"] = lambda: search.stats(
        parse_stats({**base, "split": ["service"], "interval": ["1m"]}, 0)
    )
    out: dict[str, list[float]] = {name: [] for name in shapes}
    for _ in range(rounds):
        for name, run in shapes.items():
            began = time.perf_counter()
            await run()
            out[name].append((time.perf_counter() - began) * 1000)
    return out


async def bench(services: Services, docs: int, rounds: int) -> dict[str, dict[str, float]]:
    """Load ``docs`` documents, time the shapes, drop the scratch indices; ms per shape."""
    prefix = f"bench-logs-{uuid.uuid4().hex[:8]}."
    topics = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": prefix}))
    now = time.time()
    start = now - 3 * 3600
    half = docs // 2
    messages = app_messages(topics.logs_app, half, start, 7200 / half, RECORDS_PER_MESSAGE)
    messages += access_messages(topics.logs_nginx, docs - half, start)
    try:
        stored = await load(services, topics, prefix, messages)
        search = LogSearch(
            services.elasticsearch_url,
            embedded=services.embedded_es,
            prefix=prefix,
            cursor_key=b"bench",
        )
        try:
            span = (iso(start - 60), iso(now))
            timings = await measure(search, span, rounds)
        finally:
            await search.close()
    finally:
        await drop(services, prefix)
    report = {name: summary(values) for name, values in timings.items()}
    searches = [v for name, values in timings.items() if name in SEARCH_SHAPES for v in values]
    report["search"] = summary(searches)  # the target: p95 < 300 ms
    report["all"] = summary([v for values in timings.values() for v in values])
    report["all"]["docs"] = float(stored)
    return report


def summary(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of ``values`` (ms) and how many."""
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "n": float(len(values)),
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point: load the cap (or ``--docs``), time ``--rounds`` rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    settings = load_settings()
    parser.add_argument("--docs", type=int, default=settings.es_local_max_docs)
    parser.add_argument("--rounds", type=int, default=20, help="requests per shape")
    args = parser.parse_args(argv)
    services = resolve_services(settings)
    report = asyncio.run(bench(services, args.docs, args.rounds))
    print(f"{'shape':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'n':>5}")
    for name, row in report.items():
        print(f"{name:<16} {row['p50']:>8} {row['p95']:>8} {row['max']:>8} {row['n']:>5.0f}")
    print(f"documents: {report['all']['docs']:.0f}")


if __name__ == "__main__":
    main()
