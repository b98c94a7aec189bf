"""Log patterns on the ingest path: app log lines are mined, counted in pattern windows, made
durable with the window state, and keep their ids across a restart (fetcher + pipeline + store)."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from agents.fetcher import InputFetcher
from agents.runtime import Lookout
from devtools.bench.memory import MemorySource, memory_worker
from patterns.assignments import decode
from patterns.join import PatternJoin
from tables.output import ORIGIN_HEADER, RecordingOutput
from tables.series import pattern_series

T0 = 1_800_000_000
SETTINGS = {"LOOKOUT_APP_ID": "patterns-test"}


def worker() -> tuple[Lookout, RecordingOutput, MemorySource, InputFetcher]:
    return memory_worker(SETTINGS, batch_max=100)


def app_line(message: str, ts: int, level: str = "error") -> bytes:
    record = {"timestamp": ts, "level": level, "service": "shop", "message": message}
    return orjson.dumps({**record, "host": "h1"})


async def drain(fetcher: InputFetcher) -> None:
    while await fetcher.fetch_once():
        pass


async def test_lines_are_mined_counted_and_restored_with_the_same_ids() -> None:
    lk, out, source, fetcher = worker()
    lk.store._recovered()
    topic = lk.topics.logs_app
    for i in range(20):
        source.put(topic, app_line(f"order {1000 + i} failed: card declined", T0 + i), b"h1")
        source.put(topic, app_line(f"user {i} logged in from 10.0.0.{i}", T0 + i, "info"), b"h1")
    await drain(fetcher)

    patterns = list(lk.store.patterns.patterns("shop"))
    assert len(patterns) == 2
    ids = {cluster.id for _, cluster in patterns}
    pane = next(iter(lk.store.engine.hosts["h1"].panes.values()))
    counts = pane.aggs[pattern_series("shop", "h1")].result()
    assert counts["lines"] == 40
    keys = [k for _, k, v in out.changelogs if k.startswith((b"pt|", b"ps|")) and v is not None]
    assert keys, "pattern state is written to the changelog"

    # a fresh worker recovered from that changelog gives new lines of known templates the same ids
    restarted, _out2, source2, fetcher2 = worker()
    data = restarted.store.table.data
    for partition, key, value in out.changelogs:
        if value is None:
            data.pop(key, None)
        else:
            data[key] = orjson.loads(value)
            data._key_partition[key] = partition  # type: ignore[attr-defined]
    restarted.store.active_partitions = lambda: {0}  # type: ignore[method-assign]
    restarted.store._recovered()
    source2.logs = source.logs
    source2.put(topic, app_line("order 5555 failed: card declined", T0 + 30), b"h1")
    await drain(fetcher2)
    after = {cluster.id for _, cluster in restarted.store.patterns.patterns("shop")}
    assert after == ids


def published(out: RecordingOutput) -> PatternJoin:
    """Every lookout.patterns record the worker sent, in a join that tracks partitions 0..1."""
    join = PatternJoin(wait=30)
    for partition in (0, 1):
        for topic in (LOGS_APP_T, LOGS_NGINX_T):
            join.hold(topic, partition, 0, 0, now=0)
    join.held.clear()
    for partition, _key, value, _ts in out.patterns:
        join.add(decode(partition, value))
    return join


LOGS_APP_T, LOGS_NGINX_T = "logs.app", "logs.nginx"


async def test_every_mined_line_has_its_pattern_id_published_under_its_position() -> None:
    lk, out, source, fetcher = worker()
    lk.store._recovered()
    app, nginx = lk.topics.logs_app, lk.topics.logs_nginx
    for i in range(10):
        source.put(app, app_line(f"order {1000 + i} failed: card declined", T0 + i), b"h1")
        source.put(app, app_line(f"user {i} logged in from 10.0.0.{i}", T0 + i, "info"), b"h1")
    access = b'10.0.0.1 - - [01/Jan/2027:08:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"'
    errors = (
        b"2027/01/01 08:00:00 [warn] 7#7: *1 an upstream response is buffered to a temporary "
        b"file\n2027/01/01 08:00:01 [error] 7#7: *1 connect() failed (111: Connection refused) "
        b"while connecting to upstream, client: 10.0.0.9, server: shop"
    )
    source.put(nginx, access, b"h1")
    source.put(nginx, errors, b"h1")
    await drain(fetcher)

    ids = {c.example.split()[0]: c.id for _, c in lk.store.patterns.patterns()}
    join = published(out)
    app_known = join.known[(app, 0)]
    assert app_known.spans == [[0, 19]]  # every message decided, none forwarded
    want = {o: {0: ids["order" if o % 2 == 0 else "user"]} for o in range(20)}
    assert app_known.ids == want
    nginx_known = join.known[(nginx, 0)]
    assert nginx_known.spans == [[0, 1]]  # the access line (offset 0) has no pattern
    assert nginx_known.ids == {1: {0: ids["an"], 1: ids["connect()"]}}


async def test_a_line_forwarded_to_its_hosts_partition_gets_its_id_under_the_origin() -> None:
    lk, out, _source, _fetcher = memory_worker({**SETTINGS, "LOOKOUT_PARTITIONS": "2"})
    lk.store._recovered()
    app = lk.topics.logs_app
    hosts = [f"h{n}" for n in range(40)]
    here = next(h for h in hosts if lk.pipeline.partition_of(h) == 0)
    there = next(h for h in hosts if lk.pipeline.partition_of(h) == 1)
    lines = [
        {"timestamp": T0, "level": "error", "service": "shop", "host": h, "message": m}
        for h, m in ((here, "disk 1 full"), (there, "cache 7 evicted"))
    ]
    value = b"\n".join(orjson.dumps(line) for line in lines)
    msg = SimpleNamespace(
        topic=app, partition=0, offset=41, key=None, value=value, timestamp=T0 * 1000, headers=()
    )
    await lk.pipeline.process([msg])
    [(_key, forwarded, target)] = out.rekeyed
    assert target == 1 and out.origins[0] is not None
    join = published(out)
    assert join.known[(app, 0)].forwarded == {41: {1}}
    join.hold(app, 0, 41, T0 * 1000, now=0)
    assert [r.complete for r in join.release(now=1)] == []  # item 1 is not known yet

    # the worker of partition 1 mines the forwarded copy and publishes under (logs.app, 0, 41)
    rekeyed = SimpleNamespace(
        topic=lk.topics.rekey,
        partition=1,
        offset=0,
        key=None,
        value=forwarded,
        timestamp=T0 * 1000 + 5,
        headers=((ORIGIN_HEADER, out.origins[0]),),
    )
    await lk.pipeline.process([rekeyed])
    for partition, _key, value2, ts in out.patterns[1:]:
        assert (partition, ts) == (0, T0 * 1000)  # to the origin partition, with its time
        join.add(decode(partition, value2))
    [done] = join.release(now=2)
    ids = {c.example: c.id for _, c in lk.store.patterns.patterns()}
    assert done.complete and done.ids == {0: ids["disk 1 full"], 1: ids["cache 7 evicted"]}
