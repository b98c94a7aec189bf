"""The ingest path without a broker: the batch fetcher + pipeline + store.

Records come from an in-memory source (devtools/bench/memory.py) in batches of at most
``LOOKOUT_BATCH_MAX``; the store writes to a RecordingOutput. One partition, so every host is
owned here. The fetcher is driven batch by batch (``fetch_once``), so nothing waits on a clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from agents.fetcher import InputFetcher
from agents.runtime import Lookout
from devtools.bench.memory import MemorySource, memory_worker
from tables.output import RecordingOutput
from tables.queries import current_window

T0 = 1_800_000_000


class Inputs:
    """Puts records on the metrics topic and runs the fetcher until they are all applied."""

    def __init__(self, lk: Lookout, source: MemorySource, fetcher: InputFetcher) -> None:
        self.lk, self.source, self.fetcher = lk, source, fetcher

    async def put(self, value: bytes, key: bytes | None = None) -> None:
        self.source.put(self.lk.topics.metrics, value, key)

    async def drain(self) -> None:
        while await self.fetcher.fetch_once():
            pass


@pytest.fixture
async def lookout() -> AsyncIterator[tuple[Lookout, RecordingOutput, Inputs]]:
    lk, out, source, fetcher = memory_worker(
        {
            "LOOKOUT_BATCH_MAX": "10",
            "LOOKOUT_BATCH_WITHIN": "0.02",
            "LOOKOUT_APP_ID": "agent-test",
        }
    )
    lk.store._recovered()  # what Faust's recovery does after the first assignment
    yield lk, out, Inputs(lk, source, fetcher)


async def settle(ctx: Inputs, records: int) -> None:
    """Apply everything put so far; exactly ``records`` records must have been counted."""
    await ctx.drain()
    assert ctx.lk.stats.total("lookout_records_in_total") == records


def metric(host: str, ts: int, value: float) -> bytes:
    return orjson.dumps(
        {"name": "cpu", "tags": {"host": host}, "fields": {"usage": value}, "timestamp": ts}
    )


async def test_batch_updates_windows_and_writes_each_pane_once(
    lookout: tuple[Lookout, RecordingOutput, Inputs],
) -> None:
    lk, out, ctx = lookout
    for i in range(10):
        await ctx.put(metric("h1", T0 + i, float(i)), key=b"h1")
    await settle(ctx, 10)
    window = current_window(lk.store.engine, "h1", "tumbling")
    (value,) = window["series"].values()
    assert value["count"] == 10 and value["sum"] == 45.0
    pane_writes = [k for _, k, v in out.changelogs if k.startswith(b"p|") and v is not None]
    # one pane, written once per processed batch - not once per metric
    assert 1 <= len(pane_writes) < 10
    assert out.barriers >= 2  # the sentinel is sent after the state writes are acknowledged
    assert out.changelogs[-1][1] == b"s|0"


async def test_window_closes_with_one_final_record_per_series(
    lookout: tuple[Lookout, RecordingOutput, Inputs],
) -> None:
    _lk, out, ctx = lookout
    await ctx.put(metric("h1", T0 + 5, 1.0), key=b"h1")
    await ctx.put(metric("h1", T0 + 95, 2.0), key=b"h1")  # passes T0+60 + 30 s grace
    await settle(ctx, 2)
    finals = [orjson.loads(v) for _, v, _ in out.windows]
    tumbling = [f for f in finals if f["kind"] == "tumbling"]
    assert [(f["start"], f["value"]["count"]) for f in tumbling] == [(T0, 1)]
    assert len({f["id"] for f in finals}) == len(finals)


async def test_bad_input_is_dead_lettered_and_processing_continues(
    lookout: tuple[Lookout, RecordingOutput, Inputs],
) -> None:
    lk, out, ctx = lookout
    await ctx.put(b"{not json", key=b"h1")
    await ctx.put(metric("h1", T0, 7.0), key=b"h1")
    await settle(ctx, 1)
    (dead,) = [orjson.loads(v) for _, v in out.dead_letters]
    assert dead["reason"] == "not_json"
    assert dead["original"] == "{not json"
    assert lk.stats.total("lookout_deadletter_total") == 1
    assert lk.store.engine.hosts["h1"].max_ts == T0


async def test_late_record_is_counted_and_dead_lettered(
    lookout: tuple[Lookout, RecordingOutput, Inputs],
) -> None:
    lk, out, ctx = lookout
    await ctx.put(metric("h1", T0 + 100, 1.0), key=b"h1")
    await ctx.put(metric("h1", T0 + 10, 2.0), key=b"h1")  # its window closed at T0+90
    await settle(ctx, 2)
    reasons = [orjson.loads(v)["reason"] for _, v in out.dead_letters]
    assert reasons == ["late"]
    assert lk.stats.total("lookout_late_records_total") == 1


async def test_missing_timestamp_falls_back_to_processing_time_and_is_counted(
    lookout: tuple[Lookout, RecordingOutput, Inputs],
) -> None:
    lk, _out, ctx = lookout
    await ctx.put(orjson.dumps({"name": "mem", "tags": {"host": "h2"}, "fields": {"x": 1}}))
    await settle(ctx, 1)
    assert lk.stats.total("lookout_processing_time_fallback_total") == 1
    assert lk.store.engine.hosts["h2"].no_time == 1


async def test_an_unexpected_error_parks_the_message_and_the_stream_goes_on(
    lookout: tuple[Lookout, RecordingOutput, Inputs], monkeypatch: pytest.MonkeyPatch
) -> None:
    lk, out, ctx = lookout
    engine = lk.store.engine

    class Flaky:
        """The engine, failing on one host (a stand-in: the native engine's methods cannot
        be patched on the instance)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        def add_metric(self, hs: Any, *args: Any) -> None:
            if hs.host == "bad":
                raise RuntimeError("boom")
            engine.add_metric(hs, *args)

    monkeypatch.setattr(lk.pipeline, "engine", Flaky())
    await ctx.put(metric("bad", T0, 1.0), key=b"bad")
    await ctx.put(metric("h1", T0, 2.0), key=b"h1")
    await settle(ctx, 2)
    (dead,) = [orjson.loads(v) for _, v in out.dead_letters]
    assert dead["reason"] == "processing_error"
    assert "boom" in dead["detail"]
    assert engine.hosts["h1"].max_ts == T0
