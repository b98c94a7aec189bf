"""Delivery order per partition (tables/ordering.py) on explicit delivery timelines.

A timeline lists offsets in the order the consumer hands them to the agent; `|` marks where
the guard asks for a seek and `~` where the consumer jumps (a hole it made, a seek it obeyed).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.ordering import OrderGuard

TP = ("telegraf.metrics", 5)


def admitted(guard: OrderGuard, offsets: list[int], tp: tuple[str, int] = TP) -> list[int]:
    return [o for o in offsets if guard.admit(tp, o)]


def test_in_order_records_are_admitted_and_the_prefix_follows() -> None:
    g = OrderGuard()
    assert admitted(g, [0, 1, 2, 3]) == [0, 1, 2, 3]
    assert g.prefix(TP) == 3
    assert g.seeks_due(0.0) == []


def test_the_first_record_of_an_unknown_partition_is_admitted_wherever_it_starts() -> None:
    g = OrderGuard()
    assert admitted(g, [40, 41]) == [40, 41]


def test_a_re_delivery_from_earlier_is_admitted() -> None:
    # 0 1 2 3 ~ 1 2 3 4     (a seek to the committed offset: replays are the engine's to skip)
    g = OrderGuard()
    assert admitted(g, [0, 1, 2, 3, 1, 2, 3, 4]) == [0, 1, 2, 3, 1, 2, 3, 4]


def test_a_hole_holds_later_records_until_it_is_re_delivered() -> None:
    # 10 11 ~ 15 16 17 | ~ 12 13 14 15 16 17 18
    #          held----   admitted in order
    g = OrderGuard()
    assert admitted(g, [10, 11, 15, 16, 17]) == [10, 11]
    assert g.held == 3 and g.opened == 1
    assert g.seeks_due(100.0) == [(TP, 12, True)]
    assert g.seeks_due(100.1) == []  # asked once
    assert admitted(g, [12, 13, 14, 15, 16, 17, 18]) == [12, 13, 14, 15, 16, 17, 18]
    assert g.gaps() == {}
    assert g.prefix(TP) == 18


def test_faust_seeking_to_the_committed_offset_also_fills_the_hole() -> None:
    # 8 .. 11 ~ 20 21 ~ 8 9 10 11 12 ... (Faust's own seek, before ours took effect)
    g = OrderGuard()
    assert admitted(g, [8, 9, 10, 11, 20, 21]) == [8, 9, 10, 11]
    assert admitted(g, list(range(8, 23))) == list(range(8, 23))
    assert g.seeks_due(0.0) == []  # closed before the caller asked


def test_newer_records_stay_held_while_the_hole_is_open() -> None:
    g = OrderGuard()
    admitted(g, [0, 1, 5])
    assert admitted(g, [6, 7, 8, 9]) == []  # the batch that jumped, then new records
    assert g.gaps()[TP].max_seen == 9


def test_a_re_delivery_that_starts_inside_the_hole_is_held_and_sought_again() -> None:
    # 0 1 ~ 10 11 | ~ 5 6 (the consumer dropped 2..4 again) | ~ 2 3 4 ...
    g = OrderGuard()
    admitted(g, [0, 1, 10, 11])
    assert g.seeks_due(0.0) == [(TP, 2, True)]
    assert admitted(g, [5, 6]) == []
    assert g.seeks_due(0.01) == [(TP, 2, False)]
    assert admitted(g, [2, 3, 4, 5]) == [2, 3, 4, 5]


def test_a_seek_that_brings_nothing_back_is_asked_again_after_the_retry_time() -> None:
    g = OrderGuard(retry=1.0)
    admitted(g, [0, 1, 10])
    assert g.seeks_due(50.0) == [(TP, 2, True)]
    assert g.seeks_due(50.9) == []
    assert g.seeks_due(51.0) == [(TP, 2, False)]  # asked again: not a new hole


def test_a_hole_in_the_log_itself_is_accepted_after_two_re_deliveries() -> None:
    # 0 1 ~ 5 6 | ~ 5 6 | ~ 5 6 7     (offsets 2..4 do not exist: transaction markers)
    g = OrderGuard()
    assert admitted(g, [0, 1, 5, 6]) == [0, 1]
    assert g.seeks_due(0.0) == [(TP, 2, True)]
    assert admitted(g, [5, 6]) == []  # one confirmation: could still be the consumer
    assert g.seeks_due(0.1) == [(TP, 2, False)]
    assert admitted(g, [5, 6, 7]) == [5, 6, 7]
    assert g.accepted_holes == 1 and g.gaps() == {}


def test_partitions_are_independent() -> None:
    other = ("telegraf.metrics", 6)
    g = OrderGuard()
    admitted(g, [0, 1, 9])
    assert admitted(g, [0, 1, 2], tp=other) == [0, 1, 2]
    assert set(g.gaps()) == {TP}


def test_reset_keeps_owned_partitions_with_the_larger_prefix_and_drops_holes() -> None:
    g = OrderGuard()
    admitted(g, [0, 1, 2])  # partition 5 in memory: 2
    admitted(g, [0, 1], tp=("telegraf.metrics", 6))
    admitted(g, [0, 4], tp=("logs.app", 5))  # a hole
    g.reset(
        {("telegraf.metrics", 5): 1, ("telegraf.metrics", 7): 30, ("logs.app", 5): 9},
        keep_partitions={5, 7},
    )
    assert g.prefix(("telegraf.metrics", 5)) == 2  # memory is newer
    assert g.prefix(("telegraf.metrics", 7)) == 30  # from the durable marker
    assert g.prefix(("telegraf.metrics", 6)) is None  # no longer owned
    assert g.prefix(("logs.app", 5)) == 9
    assert g.gaps() == {}
    assert g.prefixes(5) == {"telegraf.metrics": 2, "logs.app": 9}


def test_a_restart_behind_the_durable_prefix_re_reads_and_one_ahead_seeks_back() -> None:
    # the state says 0..20 applied; Faust's committed offset is 8 (replay) or 40 (moved past)
    g = OrderGuard()
    g.reset({TP: 20}, keep_partitions={5})
    assert admitted(g, [8, 9]) == [8, 9]
    g2 = OrderGuard()
    g2.reset({TP: 20}, keep_partitions={5})
    assert admitted(g2, [40, 41]) == []
    assert g2.seeks_due(0.0) == [(TP, 21, True)]


def test_forget_drops_a_partition() -> None:
    g = OrderGuard()
    admitted(g, [0, 7])
    g.forget(TP)
    assert g.gaps() == {} and g.prefix(TP) is None


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 120), p_drop=st.floats(0, 0.3))
def test_any_mix_of_dropped_runs_stale_batches_and_replays_applies_each_offset_once_in_order(
    seed: int, n: int, p_drop: float
) -> None:
    """A consumer that drops runs of records, keeps handing out a stale batch after a seek,
    and sometimes replays from a recent committed offset: the records applied (admitted and
    above what was applied, the engine's offset check) are 0, 1, 2, ... each once, in order.

    The log never ends (a hole is noticed when a later record arrives), so the run stops once
    offset n-1 is applied. A seek is obeyed: its first fresh record is the one sought (a
    consumer that skips the very same records on every re-read looks like a hole in the log,
    which is accepted after two re-reads; Faust's drops come from a queue cleared once).
    """
    rng = random.Random(seed)
    guard = OrderGuard(retry=1.0)
    pos, now, hw = 0, 0.0, -1
    applied: list[int] = []
    stale: list[int] = []  # a fetched batch the consumer still hands out after a seek
    faithful = True  # the first record, and the first fresh one after a seek
    for _ in range(50 * n + 500):
        if hw >= n - 1:
            break
        now += 0.1
        if stale:
            offset = stale.pop(0)
        else:
            r = rng.random()
            if not faithful and r < p_drop:  # the consumer drops a run (a cleared queue)
                pos += rng.randint(1, 6)
            elif not faithful and r < p_drop + 0.02:  # a replay from a committed offset
                pos = rng.randint(max(0, hw - 10), pos)
            faithful = False
            offset, pos = pos, pos + 1
        if guard.admit(TP, offset) and offset > hw:
            applied.append(offset)
            hw = offset
        for _tp, target, _first in guard.seeks_due(now):
            if rng.random() < 0.5:  # the consumer finishes the batch it had fetched first
                stale = list(range(pos, pos + rng.randint(1, 5)))
            pos, faithful = target, True
    assert hw >= n - 1, "no progress"
    assert applied == list(range(len(applied)))


def test_an_idle_agent_behind_the_consumer_s_read_offset_opens_a_hole() -> None:
    # admitted 0..4; the consumer says it handed out up to 9 (5..9 dropped, nothing after)
    g = OrderGuard()
    admitted(g, [0, 1, 2, 3, 4])
    other = ("logs.app", 5)
    admitted(g, [0, 1], tp=other)
    assert g.check_delivered({TP: 9, other: 2, ("never.seen", 1): 7}) == [TP]
    assert g.seeks_due(0.0) == [(TP, 5, True)]
    assert g.check_delivered({TP: 9}) == []  # already open
    assert admitted(g, [5, 6, 7, 8, 9]) == [5, 6, 7, 8, 9]
    assert g.gaps() == {}
