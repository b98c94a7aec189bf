"""Log search, statistics and live tail on a real worker, osmem and broker.

Documents are written by the real Elasticsearch sink (map, batch, ``_bulk``) from a fixed data set
(devtools.bench.logsearch), so every expected count is computed from that data set. The tail test
produces lines to the log topic after connecting and resumes with Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.bench.logsearch import app_messages, app_record, drop, load
from devtools.bench.sinks import access_messages
from sinks.es_client import make_es_client
from sinks.es_templates import index_prefix
from tests.integration.api_client import Reply, call
from tests.integration.test_sinks_support import wait_for
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

APP_COUNT = 300
ACCESS_COUNT = 240
STEP = 2.0

OTHER_CALLER = "logs-test-admin-token"


@pytest.fixture(scope="module")
def setup(
    stack_services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A worker on fresh topics, and the data set in fresh indices of the same prefix."""
    prefix = f"lg{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        stack_services,
        prefix,
        logs_tail_heartbeat="1",
        logs_tail_max_seconds="60",
        api_token=OTHER_CALLER,  # the server admin: a second caller with its own tail limit
    )
    settings = load_settings(env)
    topics = TopicNames.from_settings(settings)
    asyncio.run(ensure_topics(settings, stack_services.bootstrap_servers))
    start = float(int(time.time()) - 1800)
    messages = app_messages(topics.logs_app, APP_COUNT, start, STEP, per_message=3)
    messages += access_messages(topics.logs_nginx, ACCESS_COUNT, start)
    stored = asyncio.run(load(stack_services, topics, index_prefix(prefix), messages))
    assert stored == APP_COUNT + ACCESS_COUNT
    w = Worker(env, tmp_path_factory.mktemp("logs"), name="logs").start()
    try:
        yield {"worker": w, "start": start, "topics": topics, "prefix": prefix}
    finally:
        w.stop()
        asyncio.run(drop(stack_services, index_prefix(prefix)))


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def search(setup: dict[str, Any], path: str = "/api/logs/search", **params: Any) -> Reply:
    query = {"from": iso(setup["start"] - 60), "to": iso(setup["start"] + 3600), **params}
    url = setup["worker"].url + path + "?" + urllib.parse.urlencode(query, doseq=True)
    return call("GET", url)


def ok(reply: Reply) -> Any:
    assert reply.status == 200, reply.text
    return reply.json()


def records() -> list[dict[str, Any]]:
    return [app_record(n, 0.0, STEP) for n in range(APP_COUNT)]


def test_pages_by_cursor_equal_the_slices_of_one_full_sort(setup: dict[str, Any]) -> None:
    full = ok(search(setup, source="app", limit=1000))
    assert full["total"] == {"value": APP_COUNT, "relation": "eq"}
    ids = [e["id"] for e in full["entries"]]
    times = [e["time"] for e in full["entries"]]
    assert len(ids) == APP_COUNT and times == sorted(times, reverse=True)  # newest first
    assert full["cursor"] is None
    paged: list[str] = []
    page = ok(search(setup, source="app", limit=37))
    pages = 1
    while True:
        paged += [e["id"] for e in page["entries"]]
        assert len(page["entries"]) <= 37
        if page["cursor"] is None:
            break
        page = ok(search(setup, source="app", limit=37, cursor=page["cursor"]))
        assert page["total"] is None  # counted on the first page only
        pages += 1
    assert paged == ids and pages == -(-APP_COUNT // 37)
    # both sources, newest first across indices, ties broken by log id
    both = ok(search(setup, limit=1000))
    keys = [(e["time"], e["doc"]["log_id"]) for e in both["entries"]]
    assert len(keys) == APP_COUNT + ACCESS_COUNT and keys == sorted(keys, reverse=True)


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"level": "error"}, lambda r: r["level"] == "error"),
        (
            {"level": "error,warn", "service": "api"},
            lambda r: r["level"] in ("error", "warn") and r["service"] == "api",
        ),
        (
            {"level": ["error", "debug"], "host": "h1"},
            lambda r: r["level"] in ("error", "debug") and r["host"] == "h1",
        ),
        ({"pattern_id": "p-none", "tenant": "t-none"}, lambda r: False),
    ],
)
def test_filters_select_exactly_the_matching_records(
    setup: dict[str, Any], params: dict[str, Any], expect: Any
) -> None:
    want = sum(1 for r in records() if expect(r))
    got = ok(search(setup, source="app", limit=1000, **params))
    assert got["total"]["value"] == want == len(got["entries"])


async def test_tenant_and_pattern_filters_apply_to_documents_that_carry_them(
    setup: dict[str, Any], stack_services: Services
) -> None:
    """The sink writes neither field yet (tenants and the pattern miner will): documents that
    carry them are indexed here directly, with the same template."""
    prefix = index_prefix(setup["prefix"])
    day = time.strftime("%Y.%m.%d", time.gmtime(setup["start"]))
    es = make_es_client(stack_services.elasticsearch_url, embedded=stack_services.embedded_es)
    try:
        for n in range(12):
            doc = {
                "@timestamp": iso(setup["start"] + n),
                "service": "hooked",
                "host": "h0",
                "level": "info",
                "message": f"hooked {n}",
                "log_id": f"hooked-{n:02d}",
                "tenant": f"t{n % 2}",
                "pattern_id": f"p{n % 3}",
            }
            await es.index(index=f"{prefix}logs-app-{day}", id=doc["log_id"], document=doc)
        await es.indices.refresh(index=f"{prefix}logs-app-*")
        for params, want in [
            ({"tenant": "t1"}, 6),
            ({"pattern_id": "p2"}, 4),
            ({"tenant": "t0", "pattern_id": "p0,p1"}, 4),
        ]:
            got = await asyncio.to_thread(ok, search(setup, service="hooked", **params))
            assert len(got["entries"]) == want, params
            for key, values in params.items():
                assert all(e["doc"][key] in values.split(",") for e in got["entries"])
        stats = await asyncio.to_thread(
            ok, search(setup, "/api/logs/stats", service="hooked", split="pattern_id")
        )
        assert {t["key"]: t["count"] for t in stats["top"]} == {"p0": 4, "p1": 4, "p2": 4}
    finally:
        await es.delete_by_query(
            index=f"{prefix}logs-app-*", query={"term": {"service": "hooked"}}, refresh=True
        )
        await es.close()


def test_status_class_and_source_filter_nginx_entries(setup: dict[str, Any]) -> None:
    got = ok(search(setup, status_class="5xx", limit=1000))
    want = sum(1 for n in range(ACCESS_COUNT) if n % 6 == 5)  # status 502
    assert len(got["entries"]) == want
    assert {e["doc"]["status"] for e in got["entries"]} == {502}
    assert all(
        e["index"].startswith(index_prefix(setup["prefix"]) + "logs-nginx-") for e in got["entries"]
    )


def test_free_text_matches_words_and_highlights_them(setup: dict[str, Any]) -> None:
    got = ok(search(setup, q="payment user3", limit=1000))
    want = [r for r in records() if "payment" in r["message"] and "user3 " in r["message"]]
    assert len(got["entries"]) == len(want) > 0
    for e in got["entries"]:
        marked = e["highlight"]["message"][0]
        assert "<em>payment</em>" in marked and "<em>user3</em>" in marked
    # simple_query_string operators: OR and NOT
    either = ok(search(setup, q="payment | timeout", source="app", limit=1000))
    assert len(either["entries"]) == sum(
        1 for r in records() if r["message"].split()[0] in ("payment", "timeout")
    )
    without = ok(search(setup, q="payment -user3", source="app", limit=1000))
    assert len(without["entries"]) == sum(
        1 for r in records() if r["message"].startswith("payment") and "user3 " not in r["message"]
    )


def test_stats_count_every_record_per_bucket_and_split(setup: dict[str, Any]) -> None:
    got = ok(search(setup, "/api/logs/stats", source="app", split="level", interval="1m"))
    assert got["total"] == APP_COUNT and got["interval"] == "60s"
    assert sum(b["count"] for b in got["buckets"]) == APP_COUNT
    per_level: dict[str, int] = {}
    for r in records():
        per_level[r["level"]] = per_level.get(r["level"], 0) + 1
    assert {t["key"]: t["count"] for t in got["top"]} == per_level
    for level, count in per_level.items():
        assert sum(b["by"][level] for b in got["buckets"]) == count
    assert all(b["by"]["(other)"] == 0 for b in got["buckets"])
    # 240 s of app records at 2 s steps per minute bucket: 30 records in every full bucket
    assert max(b["count"] for b in got["buckets"]) == 30
    top2 = ok(search(setup, "/api/logs/stats", source="app", split="service", top=2))
    assert len(top2["top"]) == 2
    assert sum(sum(b["by"].values()) for b in top2["buckets"]) == APP_COUNT
    nginx = ok(search(setup, "/api/logs/stats", split="status_class", source="nginx"))
    assert {t["key"] for t in nginx["top"]} == {"2xx", "3xx", "4xx", "5xx"}


def tampered(cursor: str) -> str:
    body, mac = cursor.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-3] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + mac


def test_every_bad_input_answers_400_naming_the_parameter(setup: dict[str, Any]) -> None:
    first = ok(search(setup, source="app", limit=5))
    other = ok(search(setup, source="app", level="error", limit=5))
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/logs/search", {"q": "x" * 10_000}, "q"),
        ("/api/logs/search", {"q": '"unbalanced phrase'}, "q"),
        ("/api/logs/search", {"q": "(payment"}, "q"),
        ("/api/logs/search", {"q": "level:error AND service:api"}, "q"),
        ("/api/logs/search", {"from": iso(setup["start"]), "to": iso(setup["start"] - 60)}, "from"),
        ("/api/logs/search", {"from": "yesterday"}, "from"),
        ("/api/logs/search", {"colour": "red"}, "colour"),
        ("/api/logs/search", {"limit": 0}, "limit"),
        ("/api/logs/search", {"limit": 1001}, "limit"),
        ("/api/logs/search", {"limit": "ten"}, "limit"),
        ("/api/logs/search", {"status_class": "9xx"}, "status_class"),
        ("/api/logs/search", {"source": "syslog"}, "source"),
        (
            "/api/logs/search",
            {"source": "app", "level": "error", "cursor": first["cursor"]},
            "cursor",
        ),
        ("/api/logs/search", {"source": "app", "cursor": other["cursor"]}, "cursor"),
        ("/api/logs/search", {"source": "app", "cursor": tampered(first["cursor"])}, "cursor"),
        ("/api/logs/search", {"source": "app", "cursor": "garbage"}, "cursor"),
        ("/api/logs/stats", {"interval": "1s", "from": "-7d"}, "interval"),
        ("/api/logs/stats", {"interval": "soon"}, "interval"),
        ("/api/logs/stats", {"split": "colour"}, "split"),
        ("/api/logs/stats", {"top": 0}, "top"),
        ("/api/logs/stats", {"limit": 5}, "limit"),
        ("/api/logs/tail", {"cursor": "x"}, "cursor"),
    ]
    for path, params, param in cases:
        reply = search(setup, path, **params)
        assert reply.status == 400, (params, reply.status, reply.text)
        assert reply.json()["param"] == param and param in reply.json()["error"], reply.text
    # Lucene-looking text that is not an error in simple query syntax is searched as text
    for text in ["a/b:c", "title^2", "foo~ bar*", "user3 OR-ish", "[500 TO 599]"]:
        assert search(setup, q=text).status == 200, text
    bad_id = call(
        "GET", setup["worker"].url + "/api/logs/tail", headers={"Last-Event-ID": "nope/x/1"}
    )
    assert bad_id.status == 400 and bad_id.json()["param"] == "Last-Event-ID"


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """(id, data) of each ``logs`` event of a stream."""
    event: dict[str, str] = {}
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if event.get("event") == "logs":
                yield event["id"], orjson.loads(event["data"])
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = value


async def produce(servers: str, topic: str, first: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for n in range(first, first + count):
            rec = {**app_record(n, time.time(), 0.0), "service": "tailme" if n % 2 else "other"}
            await producer.send_and_wait(topic, orjson.dumps(rec), key=b"h")
    finally:
        await producer.stop()


async def read_entries(resp: aiohttp.ClientResponse, want: int) -> tuple[list[str], str]:
    seen: list[str] = []
    last = ""
    async for event_id, data in sse_events(resp):
        seen += [e["doc"]["message"] for e in data["entries"]]
        last = event_id
        if len(seen) >= want:
            break
    return seen, last


async def test_tail_streams_new_lines_and_resumes_exactly(
    setup: dict[str, Any], stack_services: Services
) -> None:
    url = setup["worker"].url + "/api/logs/tail?service=tailme"
    topic = setup["topics"].logs_app
    servers = stack_services.bootstrap_servers
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            await resp.content.readuntil(b"\n\n")  # started: positions taken
            await produce(servers, topic, 1000, 10)  # 5 of them match
            seen, last = await asyncio.wait_for(read_entries(resp, 5), 30)
        assert seen == [app_record(n, 0, 0)["message"] for n in range(1001, 1010, 2)]
        await produce(servers, topic, 2000, 8)  # missed while away: 4 match
        async with session.get(url, headers={"Last-Event-ID": last}) as resp:
            assert resp.status == 200
            await resp.content.readuntil(b"\n\n")
            missed, _ = await asyncio.wait_for(read_entries(resp, 4), 30)
            await produce(servers, topic, 3000, 2)  # and new ones keep coming: 1 matches
            fresh, _ = await asyncio.wait_for(read_entries(resp, 1), 30)
        assert missed == [app_record(n, 0, 0)["message"] for n in range(2001, 2008, 2)]
        assert fresh == [app_record(3001, 0, 0)["message"]]


def offsets(event_id: str) -> int:
    return sum(int(part.rpartition("/")[2]) for part in event_id.split(","))


async def test_keep_alives_move_the_resume_point_past_lines_that_did_not_match(
    setup: dict[str, Any], stack_services: Services
) -> None:
    url = setup["worker"].url + "/api/logs/tail?service=nobody"
    servers, topic = stack_services.bootstrap_servers, setup["topics"].logs_app
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.get(url) as resp:
            first = ""
            async for raw in resp.content:  # the first keep-alive: where the tail started
                if raw.startswith(b"id: "):
                    first = raw.decode()[4:].strip()
                    break
            await produce(servers, topic, 4000, 6)  # none of them matches
            last = first
            async for raw in resp.content:
                if raw.startswith(b"id: "):
                    last = raw.decode()[4:].strip()
                    if offsets(last) == offsets(first) + 6:
                        break
        assert offsets(last) == offsets(first) + 6


async def test_tails_per_caller_are_limited(setup: dict[str, Any]) -> None:
    worker = setup["worker"]
    url = worker.url + "/api/logs/tail"

    async def no_tail_open() -> bool:  # the worker notices a closed tail within a second or so
        return await asyncio.to_thread(worker.metric, "lookout_log_tails_open") == 0

    await wait_for(no_tail_open, 30, "the earlier tests' tails closed")
    async with aiohttp.ClientSession() as session:
        opened = [await session.get(url) for _ in range(3)]
        try:
            assert [r.status for r in opened] == [200, 200, 200]
            for r in opened:
                await r.content.readuntil(b"\n\n")
            async with session.get(url) as extra:
                assert extra.status == 429 and "Retry-After" in extra.headers
            other = await session.get(url, headers={"Authorization": f"Bearer {OTHER_CALLER}"})
            assert other.status == 200
            other.close()
        finally:
            for r in opened:
                r.close()
        await wait_for(no_tail_open, 30, "the closed tails noticed by the worker")
        async with session.get(url) as again:
            assert again.status == 200


async def test_a_1mb_line_and_invalid_utf8_are_stored_and_found(
    setup: dict[str, Any], stack_services: Services
) -> None:
    prefix = index_prefix(setup["prefix"])
    topics = setup["topics"]
    big = "needle " + "x" * 1_000_000
    rec = {"timestamp": setup["start"] + 5, "level": "error", "service": "big", "message": big}
    bad = orjson.dumps({**rec, "message": "broken @@ bytes"}).replace(b"@@", b"\xff\xfe")
    (first,) = app_messages(topics.logs_app, 1, setup["start"])
    msgs = [
        type(first)(first.topic, 3, 99_998 + n, first.key, value, first.timestamp)
        for n, value in enumerate([orjson.dumps(rec), bad])
    ]
    assert await load(stack_services, topics, prefix, msgs) == 2
    got = await asyncio.to_thread(ok, search(setup, service="big", q="needle"))
    assert len(got["entries"]) == 1 and len(got["entries"][0]["doc"]["message"]) == len(big)
    got = await asyncio.to_thread(ok, search(setup, service="big", q="broken bytes"))
    assert [e["doc"]["message"] for e in got["entries"]] == ["broken \ufffd\ufffd bytes"]
    es = make_es_client(stack_services.elasticsearch_url, embedded=stack_services.embedded_es)
    try:
        await es.delete_by_query(
            index=f"{prefix}logs-app-*", query={"term": {"service": "big"}}, refresh=True
        )
    finally:
        await es.close()
