"""Log patterns on the ingest path: app log lines are mined, counted in pattern windows, made
durable with the window state, and keep their ids across a restart (fetcher + pipeline + store)."""

from __future__ import annotations

import orjson

from agents.fetcher import InputFetcher
from agents.runtime import Lookout
from tables.output import RecordingOutput
from tables.series import pattern_series
from tests.agents.memory_source import MemorySource, memory_worker

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
