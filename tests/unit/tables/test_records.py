"""Final records: the hot-path serialiser writes exactly the bytes of the record dict."""

from __future__ import annotations

import orjson
import pytest

from app.tenancy import TenantMap
from tables.aggregates import CounterAgg, LogAgg, MetricAgg
from tables.records import Final, final_bodies
from tables.series import log_series, metric_series_base, pattern_series


def _gauge() -> dict[str, object]:
    agg = MetricAgg()
    for i, v in enumerate((0.5, 12.25, -3.0, 1e-9, 7e20)):
        agg.add(v, 1000.0 + i)
    return agg.result()


def _counter() -> dict[str, object]:
    agg = CounterAgg()
    for i, v in enumerate((10.0, 20.0, 5.0, 40.0)):
        agg.add(v, 1000.0 + 10 * i)
    return agg.result(60)


def _log() -> dict[str, object]:
    agg = LogAgg()
    agg.add_request(200, 512, 0.02, 1000.0)
    agg.add_request(503, 10, None, 1001.5)
    agg.add_line("error", 1002.0)
    return agg.result(60)


SERIES = [
    metric_series_base("cpu", {"host": "web-1", "cpu": "cpu-total"}) + "\x1fusage_user",
    metric_series_base("disk", {"host": 'w\u00e9b "2"', "path": "/var/\\log"}) + "\x1ffree",
    metric_series_base("mem", {"host": "web-1", "tenant": "tagged"}) + "\x1fused",
    metric_series_base("system", {}) + "\x1fload1",
    log_series("shop", "web-1"),
    pattern_series("shop \u2028", "web-1"),
]


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("result", [_gauge(), _counter(), _log(), {}])
@pytest.mark.parametrize(
    "tenants", [None, TenantMap("default"), TenantMap("default", {"web-1": "acme"})]
)
@pytest.mark.parametrize("closed_at", [1796661234.125, 130.0, 1e16])
def test_a_final_body_is_byte_identical_to_the_record_dict(
    series: str, result: dict[str, object], tenants: TenantMap | None, closed_at: float
) -> None:
    for kind, start, end in (("tumbling", 60, 120), ("hopping", 1796661000, 1796661300)):
        final = Final("web-1", 3, series, kind, start, end, result)
        (body,) = final_bodies([final], orjson.dumps(closed_at), tenants)
        assert body == orjson.dumps(final.to_record(closed_at, tenants))
        assert orjson.loads(body)["id"] == final.id


def test_a_final_body_follows_a_tenant_assigned_later() -> None:
    tenants = TenantMap("default", {"other": "x"})  # an empty map gives no tenant (to_record)
    series = metric_series_base("cpu", {"host": "web-9"}) + "\x1fusage_user"
    final = Final("web-9", 0, series, "tumbling", 60, 120, {"count": 1})
    assert orjson.loads(final_bodies([final], b"1.0", tenants)[0])["tenant"] == "default"
    tenants.assign("web-9", "acme")
    assert orjson.loads(final_bodies([final], b"1.0", tenants)[0])["tenant"] == "acme"


def test_final_bodies_of_many_windows_equal_each_record_in_order() -> None:
    """Windows of several hosts and kinds in one list, a tenant tag met in the middle of a
    window: each body equals its record dict serialised in the same order (same tenant map
    side effects: a tag teaches the host's tenant to the series after it)."""
    finals = []
    for host in ("web-1", "web-2", "db-1"):
        for kind, start, end in (("tumbling", 60, 120), ("hopping", 0, 300)):
            for i, series in enumerate(SERIES):
                tagged = series.replace("host=web-1", f"host={host}")
                finals.append(Final(host, i, tagged, kind, start, end, {"count": i, "x": None}))
    for assigned in ({}, {"web-2": "acme"}):
        fast_map = TenantMap("default", {"other": "x", **assigned})
        dict_map = TenantMap("default", {"other": "x", **assigned})
        bodies = final_bodies(finals, orjson.dumps(99.5), fast_map)
        assert bodies == [orjson.dumps(f.to_record(99.5, dict_map)) for f in finals]
    assert final_bodies([], b"1.0", None) == []


def test_recent_rings_keep_the_last_size_records_oldest_first() -> None:
    from tables.recent import RecentWindows

    recent = RecentWindows(size=3)
    finals = [Final(h, 0, s, "tumbling", 60 * i, 60 * i + 60, {}) for i in range(5)
              for h in ("a", "b") for s in ("s1", "s2")]  # fmt: skip
    bodies = [f"{f.host}{f.series}{f.start}".encode() for f in finals]
    recent.remember_finals(finals[:8], bodies[:8])
    for final, body in zip(finals[8:], bodies[8:], strict=True):  # one flush at a time
        recent.remember_finals([final], [body])
    assert recent["a"][("s1", "tumbling")] == [b"as1120", b"as1180", b"as1240"]
    assert recent["b"][("s2", "tumbling")] == [b"bs2120", b"bs2180", b"bs2240"]
    recent.keep_only({"b"})
    assert list(recent) == ["b"]
