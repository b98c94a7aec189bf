"""Recent closed windows are kept at their own size (orjson's output buffer is not retained)."""

from __future__ import annotations

import sys

import orjson

from app.faust_app import create_app
from app.settings import load_settings


def test_a_remembered_window_costs_its_size_not_orjson_s_buffer() -> None:
    lk = create_app(load_settings({"LOOKOUT_APP_ID": "recent-test"}), "kafka://127.0.0.1:1")
    body = orjson.dumps({"id": "x" * 500, "value": {"count": 6, "p99": 14.4}})
    lk.store._remember("h1", "cpu", "tumbling", body)
    (kept,) = lk.store.recent["h1"][("cpu", "tumbling")]
    assert kept == body
    # sys.getsizeof reports the object header + length; the copy's allocation is that size
    # (the original's may be orjson's whole buffer, which is what this guards against)
    assert sys.getsizeof(kept) == sys.getsizeof(b"") + len(body)
    assert kept is not body
