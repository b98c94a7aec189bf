"""The window engine on explicit timelines, plus brute-force and crash-replay properties."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.engine import Changes, WindowEngine, host_key, pane_key
from tables.queries import current_window, series_of
from tables.series import describe_series, log_series
from tables.windows import HOPPING, TUMBLING, WindowConfig

T0 = 1_700_000_040  # a multiple of 60 (2023-11-14T22:14:00Z)
CFG = WindowConfig(tumbling=60, hopping=300, step=60, grace=30, idle=30)
WALL = 5_000_000_000.0  # wall clock far from event time: windows never close by accident


def engine() -> WindowEngine:
    return WindowEngine(CFG, counter_fields={"net.bytes_recv"})


def feed(
    eng: WindowEngine,
    records: list[tuple[float, float]],
    *,
    host: str = "h1",
    now: float = WALL,
    first_offset: int = 0,
    field: str = "usage",
) -> Changes:
    """Apply ``(event_time, value)`` records as one batch, close, and collect."""
    hs = eng.host(host, 0, now)
    for i, (ts, value) in enumerate(records):
        eng.add_metric(hs, "m", first_offset + i, "cpu", {"host": host}, {field: value}, ts)
    eng.close(hs, now)
    changes = eng.collect()
    eng.mark_flushed(changes)
    return changes


def finals_by(changes: Changes, kind: str) -> dict[int, dict[str, Any]]:
    return {f.start: f.result for f in changes.finals if f.kind == kind}


def test_tumbling_window_closes_at_end_plus_grace() -> None:
    # event time ->  T0 ....... T0+60 ...... T0+90
    #  records       x  x  x      |            |
    #  window        [T0, T0+60)  end          end + grace: closes when a record says so
    eng = engine()
    ch = feed(eng, [(T0 + 1, 1.0), (T0 + 30, 3.0), (T0 + 59.9, 2.0), (T0 + 89, 9.0)])
    assert finals_by(ch, TUMBLING) == {}
    ch = feed(eng, [(T0 + 90, 5.0)], first_offset=10)
    res = finals_by(ch, TUMBLING)[T0]
    assert (res["count"], res["sum"], res["min"], res["max"], res["last"]) == (
        3,
        6.0,
        1.0,
        3.0,
        2.0,
    )


def test_record_exactly_at_window_end_goes_to_next_window() -> None:
    eng = engine()
    feed(eng, [(T0 + 10, 1.0), (T0 + 60, 100.0)])
    ch = feed(eng, [(T0 + 200, 0.0)], first_offset=5)
    t = finals_by(ch, TUMBLING)
    assert t[T0]["count"] == 1 and t[T0]["max"] == 1.0
    assert t[T0 + 60]["count"] == 1 and t[T0 + 60]["max"] == 100.0


def test_out_of_order_within_grace_is_counted() -> None:
    # T0+70 arrives, then T0+45 (25 s late, grace 30): still in window [T0, T0+60)
    eng = engine()
    feed(eng, [(T0 + 10, 1.0), (T0 + 70, 2.0), (T0 + 45, 3.0)])
    ch = feed(eng, [(T0 + 95, 0.0)], first_offset=3)
    assert finals_by(ch, TUMBLING)[T0]["count"] == 2
    assert eng.take_late() == []


def test_late_beyond_grace_is_refused_and_counted() -> None:
    # window [T0, T0+60) closed when T0+95 arrived; a record at T0+50 afterwards is late
    eng = engine()
    feed(eng, [(T0 + 10, 1.0), (T0 + 95, 2.0)])
    ch = feed(eng, [(T0 + 50, 7.0)], first_offset=2)
    late = eng.take_late()
    assert [(x.host, x.ts) for x in late] == [("h1", T0 + 50)]
    assert eng.hosts["h1"].late == 1
    assert ch.finals == []
    # the refused record is in no window, not even the still-open hopping ones
    assert all(p.start != T0 for p in eng.hosts["h1"].panes.values()) or all(
        a.count == 1 for p in eng.hosts["h1"].panes.values() for a in p.aggs.values()
    )


def test_idle_close_starts_at_last_record_not_window_end() -> None:
    # last record at event time T0+20, received at wall W. Idle allowance 30 s.
    # wall W+29: not idle -> nothing closes. wall W+70: watermark = T0+20+70 = T0+90 -> closes.
    eng = engine()
    hs = eng.host("h1", 0, WALL)
    eng.add_metric(hs, "m", 0, "cpu", {"host": "h1"}, {"usage": 1.0}, T0 + 20)
    assert eng.close(hs, WALL + 29) == 0
    assert list(eng.idle_hosts(WALL + 29)) == []
    assert [h.host for h in eng.idle_hosts(WALL + 30)] == ["h1"]
    assert eng.close(hs, WALL + 69) == 0  # watermark T0+89 < T0+90
    assert eng.close(hs, WALL + 70) == 2  # tumbling [T0,T0+60) and hopping ending at T0+60
    ch = eng.collect()
    assert {(f.kind, f.start) for f in ch.finals} == {(TUMBLING, T0), (HOPPING, T0 - 240)}


def test_replayed_old_data_is_not_closed_by_the_wall_clock() -> None:
    # event times from 2023, wall clock in 2128: records keep arriving, so no idle close
    eng = engine()
    for i in range(5):
        ch = feed(eng, [(T0 + i * 10, 1.0)], first_offset=i, now=WALL + i)
        assert ch.finals == []


def test_hopping_window_merges_panes() -> None:
    # one record per minute at T0+5, T0+65, ..., values 1..6
    # hopping [T0, T0+300) holds the first five -> count 5, sum 15
    eng = engine()
    ch1 = feed(eng, [(T0 + 5 + 60 * i, float(i + 1)) for i in range(6)])
    ch2 = feed(eng, [(T0 + 400, 0.0)], first_offset=10)
    h = finals_by(ch1, HOPPING) | finals_by(ch2, HOPPING)
    assert h[T0]["count"] == 5 and h[T0]["sum"] == 15.0
    assert h[T0 - 60]["count"] == 4  # [T0-60, T0+240) holds records 1..4


def test_one_pane_per_record_not_size_over_step() -> None:
    eng = engine()
    ch = feed(eng, [(T0 + 5, 1.0)])
    assert len(ch.panes) == 1


def test_expired_panes_are_deleted_so_memory_is_bounded() -> None:
    eng = engine()
    for i in range(60):  # one hour of one record per minute
        feed(eng, [(T0 + 60 * i, 1.0)], first_offset=i)
    # only panes still needed by an open window remain (hopping 300 s + grace)
    assert len(eng.hosts["h1"].panes) <= 7


def test_counter_fields_become_rates() -> None:
    eng = engine()
    hs = eng.host("h1", 0, WALL)
    for i, v in enumerate([1000, 2000, 3000, 500]):  # reset to 500 at the end
        eng.add_metric(hs, "m", i, "net", {"host": "h1"}, {"bytes_recv": v}, T0 + 10 * i)
    eng.close(hs, WALL)
    window = current_window(eng, "h1", TUMBLING)
    (result,) = window["series"].values()
    assert result["increase"] == 1000 + 1000 + 500
    assert result["rate"] == (1000 + 1000 + 500) / 30


def test_series_cap_per_host_counts_overflow() -> None:
    eng = WindowEngine(CFG, max_series_per_host=2)
    hs = eng.host("h1", 0, WALL)
    eng.add_metric(hs, "m", 0, "cpu", {"host": "h1"}, {"a": 1, "b": 2, "c": 3, "d": 4}, T0)
    assert hs.overflow == 2
    assert len(series_of(eng, "h1")) == 2


def test_strings_nan_and_infinities_are_not_aggregated() -> None:
    eng = engine()
    hs = eng.host("h1", 0, WALL)
    fields = {"s": "up", "nan": float("nan"), "inf": float("inf"), "ok": 1}
    eng.add_metric(hs, "m", 0, "system", {"host": "h1"}, fields, T0)
    assert [describe_series(s)["field"] for s in series_of(eng, "h1")] == ["ok"]


def test_error_rates_from_logs() -> None:
    eng = engine()
    hs = eng.host("h1", 0, WALL)
    for i, status in enumerate([200, 200, 500, 404]):
        eng.add_request(hs, "n", i, "shop", T0 + i, status, 100, 0.1 * (i + 1))
    eng.add_line(hs, "n", 9, "shop", T0 + 5, "error")
    result = current_window(eng, "h1", TUMBLING)["series"][log_series("shop", "h1")]
    assert result["requests"] == 4
    assert result["s5xx"] == 1
    assert result["error_rate"] == 0.25
    assert result["error_lines"] == 1


def test_replay_of_flushed_offsets_is_skipped() -> None:
    eng = engine()
    feed(eng, [(T0 + 1, 1.0), (T0 + 2, 2.0)])
    hs = eng.hosts["h1"]
    assert eng.seen(hs, "m", 1)
    assert not eng.seen(hs, "m", 2)


# ---- properties ---------------------------------------------------------------------------


def brute_force(records: list[tuple[str, float, float]]) -> dict[tuple[str, str, int], tuple]:
    """Final values per (host, kind, window start) computed directly from the events."""
    out: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for host, ts, value in records:
        t_start = int(ts // 60) * 60
        out[(host, TUMBLING, t_start)].append((ts, value))
        for k in range(5):
            out[(host, HOPPING, t_start - 60 * k)].append((ts, value))
    res = {}
    for key, items in out.items():
        values = [v for _, v in items]
        last_ts, last = items[0]
        for ts, v in items:  # ties on event time: the later-added value is last
            if ts >= last_ts:
                last_ts, last = ts, v
        res[key] = (len(values), round(sum(values), 6), min(values), max(values), last)
    return res


def finals_summary(finals: list[Any]) -> dict[tuple[str, str, int], tuple]:
    out = {}
    for f in finals:
        r = f.result
        out[(f.host, f.kind, f.start)] = (
            r["count"],
            round(r["sum"], 6),
            r["min"],
            r["max"],
            r["last"],
        )
    return out


stream_strategy = st.lists(
    st.tuples(
        st.floats(0, 40),  # event-time step
        st.floats(0, 29.9),  # disorder, within the 30 s grace
        st.integers(0, 1000),  # value (distinct per record below)
        st.sampled_from(["h1", "h2", "h3"]),
    ),
    min_size=1,
    max_size=120,
)


def make_records(raw: list[tuple[float, float, int, str]]) -> list[tuple[str, float, float]]:
    base = float(T0)
    out = []
    for i, (step, jitter, value, host) in enumerate(raw):
        base += step
        out.append((host, round(base - jitter, 3), float(value) + i / 1000))
    return out


def run_engine(
    records: list[tuple[str, float, float]],
    batch: int,
    start: int = 0,
    eng: WindowEngine | None = None,
) -> tuple[WindowEngine, list[Any]]:
    eng = eng or engine()
    finals: list[Any] = []
    for b in range(start, len(records), batch):
        touched = {}
        for i in range(b, min(b + batch, len(records))):
            host, ts, value = records[i]
            hs = touched.get(host) or eng.host(host, 0, WALL)
            touched[host] = hs
            if eng.seen(hs, "m", i):
                continue
            eng.add_metric(hs, "m", i, "cpu", {"host": host}, {"v": value}, ts)
        for hs in touched.values():
            eng.close(hs, WALL)
        ch = eng.collect()
        eng.mark_flushed(ch)
        finals.extend(ch.finals)
    return eng, finals


def close_everything(eng: WindowEngine) -> list[Any]:
    for hs in list(eng.hosts.values()):
        eng.close(hs, WALL + 1e7)
    return eng.collect().finals


@settings(max_examples=150, deadline=None)
@given(raw=stream_strategy, batch=st.integers(1, 50))
def test_property_finals_equal_brute_force(raw: list, batch: int) -> None:
    records = make_records(raw)
    eng, finals = run_engine(records, batch)
    finals += close_everything(eng)
    ids = [f.id for f in finals]
    assert len(ids) == len(set(ids)), "exactly one final per (series, kind, window)"
    assert eng.take_late() == []
    assert finals_summary(finals) == brute_force(records)


@settings(max_examples=150, deadline=None)
@given(raw=stream_strategy, batch=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_property_crash_and_replay_gives_the_same_finals(raw: list, batch: int, seed: int) -> None:
    """Kill at any point of any flush, recover from the changelog prefix, replay: same finals."""
    rnd = random.Random(seed)
    records = make_records(raw)
    eng_ref, ref = run_engine(records, batch)
    ref += close_everything(eng_ref)

    eng = engine()
    changelog: dict[str, Any] = {}
    emitted: dict[str, Any] = {}
    crash_batch = rnd.randrange(0, max(1, (len(records) + batch - 1) // batch))
    committed = 0  # offset to resume from
    for bi, b in enumerate(range(0, len(records), batch)):
        touched = {}
        for i in range(b, min(b + batch, len(records))):
            host, ts, value = records[i]
            hs = touched.get(host) or eng.host(host, 0, WALL)
            touched[host] = hs
            eng.add_metric(hs, "m", i, "cpu", {"host": host}, {"v": value}, ts)
        for hs in touched.values():
            eng.close(hs, WALL)
        ch = eng.collect()
        writes: list[tuple[str, Any]] = [(pane_key(h, s), p.to_state()) for h, s, p in ch.panes]
        writes.append(("FINALS", ch.finals))
        writes += [(host_key(hs.host), hs.to_state()) for hs in ch.hosts]
        writes += [(pane_key(h, s), None) for h, _p, s in ch.tombstones]
        cut = rnd.randrange(0, len(writes) + 1) if bi == crash_batch else len(writes)
        for key, value in writes[:cut]:
            if key == "FINALS":
                emitted.update({f.id: f for f in value})
            elif value is None:
                changelog.pop(key, None)
            else:
                changelog[key] = value
        if bi == crash_batch:
            break
        eng.mark_flushed(ch)
        if rnd.random() < 0.5:  # offsets are committed now and then, after a batch
            committed = min(b + batch, len(records))

    # restart: a new engine from the changelog, then replay from the committed offset
    eng2 = engine()
    for key, state in changelog.items():
        eng2.restore(key, state, WALL)
    for hs in eng2.hosts.values():
        hs.partition = 0
    _, finals = run_engine(records, batch, start=committed, eng=eng2)
    finals += close_everything(eng2)
    for f in finals:
        if f.id in emitted:
            assert emitted[f.id].result["count"] == f.result["count"], "a re-emitted final differs"
        emitted[f.id] = f
    assert finals_summary(list(emitted.values())) == finals_summary(ref)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(
        st.tuples(
            st.floats(0, 40),
            st.floats(0, 200),  # disorder up to 200 s: well beyond the 30 s grace
            st.integers(0, 1000),
            st.sampled_from(["h1", "h2"]),
        ),
        min_size=1,
        max_size=100,
    ),
    batch_a=st.integers(1, 40),
    batch_b=st.integers(1, 40),
)
def test_property_late_verdicts_do_not_depend_on_batching(
    raw: list, batch_a: int, batch_b: int
) -> None:
    records = make_records(raw)
    results = []
    for batch in (batch_a, batch_b):
        eng, finals = run_engine(records, batch)
        finals += close_everything(eng)
        late = sorted((x.host, x.ts) for x in eng.take_late())
        results.append((finals_summary(finals), late))
    assert results[0] == results[1]


def test_series_gen_moves_only_when_the_set_of_series_may_change() -> None:
    """Alerting re-reads which series a host has whenever series_gen moves: a series it has in
    an open pane already, met again in the next pane, is not a change; a new series, a log
    series, a pattern series and an expired pane are."""
    eng = engine()
    feed(eng, [(1000.0, 1.0)])
    hs = eng.hosts["h1"]
    gen = hs.series_gen
    feed(eng, [(1065.0, 2.0)], first_offset=1)  # the same series in the next pane
    assert hs.series_gen == gen
    feed(eng, [(1070.0, 2.0)], first_offset=2, field="other")  # a new series
    assert hs.series_gen == gen + 1
    before = len(hs.panes)
    feed(eng, [(1500.0, 3.0)], first_offset=3)  # closes and expires the old panes
    assert len(hs.panes) < before and hs.series_gen > gen + 1
    assert series_of(eng, "h1") == {sid for p in hs.panes.values() for sid in p.aggs}

    logs = eng.host("h2", 0, WALL)
    gen = logs.series_gen
    eng.add_request(logs, "n", 0, "web", 1071.0, 200, 10, 0.1)
    assert logs.series_gen == gen + 1
    eng.add_request(logs, "n", 1, "web", 1131.0, 200, 10, 0.1)  # next pane, same series
    assert logs.series_gen == gen + 1
    eng.add_mined_line(logs, "a", 0, "web", 1132.0, "error", "p1", 1132.0, 0.0)
    assert logs.series_gen == gen + 2  # the pattern series (the log series was there already)


@pytest.mark.parametrize("seed", range(30))
def test_log_window_reads_reuse_older_panes_and_equal_the_full_merge(seed: int) -> None:
    """series_results keeps the merge of a log window's older panes between reads (the
    open-window rules read a host's hopping window every 5 s). Interleaving reads with requests
    in the newest pane, late ones into older panes, new services and closed windows, every read
    equals the merge of all the window's panes computed afresh, key for key and bit for bit."""
    from tables.aggregates import merged_result
    from tables.queries import current_start, series_results

    rnd = random.Random(seed)
    eng = engine()
    hs = eng.host("h1", 0, WALL)
    services = ["api", "web", "db"]
    offset = 0
    ts = T0
    keys = frozenset({"latency_p95", "http_error_rate", "requests"})
    for _step in range(120):
        ts += rnd.choice([0.5, 2.0, 5.0])
        for _ in range(rnd.randint(1, 4)):
            at = ts - rnd.choice([0.0, 0.0, 0.0, 20.0, 70.0])  # some late, within or past grace
            status = rnd.choice([200, 200, 404, 500, 503])
            latency = rnd.choice([None, 0.001, rnd.uniform(0.0005, 3.0), rnd.uniform(0.01, 0.2)])
            eng.add_request(hs, "n", offset, rnd.choice(services), at, status, 100, latency)
            offset += 1
        if rnd.random() < 0.1:
            eng.close(hs, WALL)
            eng.mark_flushed(eng.collect())
        start = current_start(eng, "h1", HOPPING, "l")
        assert start is not None
        sids = [log_series(s, "h1") for s in services]
        got = series_results(eng, "h1", HOPPING, start, sids, keys=keys)
        panes = [hs.panes[p] for p in CFG.panes_of(HOPPING, start) if p in hs.panes]
        for sid in sids:
            parts = [a for p in panes if (a := p.aggs.get(sid)) is not None]
            if parts:
                want = merged_result(parts, CFG.size(HOPPING), keys)
                assert repr(got[sid]) == repr(want)
            else:
                assert sid not in got
