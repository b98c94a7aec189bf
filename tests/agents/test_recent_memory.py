"""Recent closed windows are kept at their own size (orjson's output buffer is not retained)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import orjson

from app.settings import load_settings
from app.worker import create_app
from tables.output import RecordingOutput

T0 = 1_800_000_000


async def test_final_records_are_kept_as_exact_size_copies(monkeypatch: Any) -> None:
    """The flush copies orjson's output (whose bytes may hold its whole 4 kB buffer) before
    sending and remembering it."""
    lk = create_app(
        load_settings({"LOOKOUT_APP_ID": "recent-test", "LOOKOUT_PARTITIONS": "1"}),
        "kafka://127.0.0.1:1",
    )
    lk.store.out = out = RecordingOutput()
    made: list[bytes] = []
    real = orjson.dumps

    def dumps(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        body = real(obj, *args, **kwargs)
        made.append(body)
        return body

    monkeypatch.setattr("tables.store.orjson.dumps", dumps)
    events = []
    for i, ts in enumerate([T0, T0 + 200]):  # the second closes the first's windows
        value = real({"name": "cpu", "tags": {"host": "h1"}, "fields": {"u": 1.0}, "timestamp": ts})
        msg = SimpleNamespace(
            topic="telegraf.metrics", partition=0, offset=i, key=b"h1", value=value
        )
        events.append(msg)
    await lk.pipeline.process(events)
    hs = lk.store.engine.hosts.get("h1")
    assert out.windows, (lk.stats.render()[-800:], hs and (hs.mark, list(hs.panes)))
    kept = [b for ring in lk.store.recent["h1"].values() for b in ring]
    sent = [v for _k, v, _p in out.windows]
    assert kept and set(kept) <= set(sent)
    originals = {id(b) for b in made}
    assert not any(id(b) in originals for b in kept + sent)  # copies, not orjson's objects
    assert all(sys.getsizeof(b) == sys.getsizeof(b"") + len(b) for b in kept)
