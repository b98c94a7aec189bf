"""Window math on explicit timelines (UTC epoch seconds; no local time anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime
from math import inf

import pytest

from tables.windows import HOPPING, TUMBLING, WindowConfig, effective_watermark

T0 = int(datetime(2026, 3, 29, 0, 0, tzinfo=UTC).timestamp())  # a DST switch day in Europe
CFG = WindowConfig(tumbling=60, hopping=300, step=60, grace=30, idle=30)


def test_pane_is_gcd_of_tumbling_and_step() -> None:
    assert CFG.pane == 60
    assert WindowConfig(tumbling=60, hopping=120, step=40).pane == 20
    assert WindowConfig(tumbling=10, hopping=300, step=60).pane == 10


@pytest.mark.parametrize(
    ("offset", "pane"),
    [
        # |-- pane T0 --|-- pane T0+60 --|
        # 0            60
        (0, 0),
        (59.999, 0),
        (60, 60),  # a record exactly at a window end belongs to the next window
        (-0.001, -60),
    ],
)
def test_pane_boundaries(offset: float, pane: int) -> None:
    assert CFG.pane_of(T0 + offset) == T0 + pane


def test_record_at_window_end_is_in_next_tumbling_window() -> None:
    kinds = {(k, s) for k, s, _ in CFG.window_ranges(T0 + 60) if k == TUMBLING}
    assert kinds == {(TUMBLING, T0 + 60)}


def test_hopping_overlap_each_record_in_size_over_step_windows() -> None:
    # record at T0+130:
    #   hopping windows (size 300, step 60) that contain it start at
    #   T0-120, T0-60, T0, T0+60, T0+120   -> 300/60 = 5 windows
    ranges = [(s, e) for k, s, e in CFG.window_ranges(T0 + 130) if k == HOPPING]
    assert ranges == [(T0 + d, T0 + d + 300) for d in (-120, -60, 0, 60, 120)]
    assert all(s <= T0 + 130 < e for s, e in ranges)


def test_panes_of_window() -> None:
    assert list(CFG.panes_of(HOPPING, T0)) == [T0 + i * 60 for i in range(5)]
    assert list(CFG.panes_of(TUMBLING, T0)) == [T0]


def test_first_and_last_end() -> None:
    # pane [T0, T0+60): tumbling ends T0+60, earliest hopping ends T0+60, latest T0+300
    assert CFG.first_end(T0) == T0 + 60
    assert CFG.last_end(T0) == T0 + 300


@pytest.mark.parametrize(
    ("mark_offset", "expected_min_pane"),
    [
        # windows close at end + grace. Pane T0 (first window ends T0+60) stays open while
        # mark < T0+90.
        (89.9, 0),
        (90, 60),
        (149.9, 60),
        (150, 120),
    ],
)
def test_min_open_pane(mark_offset: float, expected_min_pane: int) -> None:
    assert CFG.min_open_pane(T0 + mark_offset) == T0 + expected_min_pane


def test_min_open_pane_without_mark() -> None:
    assert CFG.min_open_pane(-inf) == -inf


def test_due_windows_close_at_end_plus_grace() -> None:
    # time ->   T0        T0+60      T0+90
    # tumbling  [---------)           ^ closes here (end + grace)
    assert CFG.due(T0, -inf, T0 + 89) == []
    assert CFG.due(T0, -inf, T0 + 90) == [(TUMBLING, T0), (HOPPING, T0 - 240)]
    # already closed up to T0+90: nothing again
    assert CFG.due(T0, T0 + 90, T0 + 100) == []
    # the latest hopping window holding pane T0 ends at T0+300 and closes at T0+330
    assert (HOPPING, T0) in CFG.due(T0, T0 + 300, T0 + 330)


@pytest.mark.parametrize(
    ("max_ts", "last_recv", "now", "expected"),
    [
        (1000.0, 50.0, 60.0, 1000.0),  # heard 10 s ago: watermark = max event time
        (1000.0, 50.0, 80.0, 1030.0),  # idle 30 s: time moves on from the last record
        (1000.0, 50.0, 150.0, 1100.0),
        # replayed old data arriving continuously never moves the watermark by the wall clock
        (100.0, 1_000_000.0, 1_000_001.0, 100.0),
    ],
)
def test_effective_watermark(max_ts: float, last_recv: float, now: float, expected: float) -> None:
    assert effective_watermark(max_ts, last_recv, now, idle=30) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tumbling": 0},
        {"hopping": 301},
        {"grace": -1},
        {"idle": 0},
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WindowConfig(**kwargs)  # type: ignore[arg-type]


def test_non_aligned_pane_sizes() -> None:
    cfg = WindowConfig(tumbling=60, hopping=120, step=40, grace=0)
    # pane 20: record at 50 -> pane 40; tumbling [0,60); hopping [-40,80), [0,120), [40,160)
    assert cfg.pane_of(50) == 40
    ws = cfg.windows_of_pane(40)
    assert (TUMBLING, 0) in ws
    assert {s for k, s in ws if k == HOPPING} == {-40, 0, 40}
    assert cfg.first_end(40) == 60
    assert cfg.last_end(40) == 160
