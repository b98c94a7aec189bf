"""The sink's pattern-id join: hold, release, bounded wait, stalls, seeks and pruning.

Time is an argument (seconds); records are built with the worker's own AssignmentLog, so the
encoding in between is the real one::

    t=0   sink fetches app[0]@10..12          held, deadline t=30
    t=1   worker record: covered 10..11       10, 11 released (ids known)
    t=2   worker record: covered 12           12 released
"""

from __future__ import annotations

from patterns.assignments import Assignment, AssignmentLog, decode
from patterns.join import PatternJoin

APP, NGINX = "logs.app", "logs.nginx"


def record(
    partition: int,
    covered: dict[str, tuple[int, int]] | None = None,
    mined: list[tuple[str, int, int, str]] | None = None,
    forwarded: list[tuple[str, int, int]] | None = None,
) -> Assignment:
    log = AssignmentLog()
    for topic, (first, last) in (covered or {}).items():
        for offset in range(first, last + 1):
            log.cover(topic, partition, offset, offset)
    for t, o, item, pid in mined or []:
        log.origin(t, partition, 0).extend((o, item, pid))
    for t, o, item in forwarded or []:
        log.forward(t, partition, o, item)
    if not log:
        log.stamp(partition, 0)
        return Assignment(partition)
    [(p, _key, value, _ts)] = log.take()
    return decode(p, value)


def released(join: PatternJoin, now: float) -> dict[int, tuple[dict[int, str], bool]]:
    return {r.key[2]: (r.ids, r.complete) for r in join.release(now)}


def test_a_message_waits_until_its_offset_is_covered() -> None:
    join = PatternJoin(wait=30)
    for offset in (10, 11, 12):
        join.hold(APP, 0, offset, 1_000 + offset, now=0)
    assert join.seeks() == {0: 1_010} and join.seeks() == {}  # read partition 0 from t=1010 ms
    assert join.needed() == {0} and released(join, 0.5) == {}
    join.add(record(0, {APP: (10, 11)}, [(APP, 10, 0, "p1"), (APP, 11, 1, "p2")]))
    assert released(join, 1) == {10: ({0: "p1"}, True), 11: ({1: "p2"}, True)}
    join.add(record(0, {APP: (12, 12)}))  # covered, nothing mined: an access line, say
    assert released(join, 2) == {12: ({}, True)}
    assert not join.held and join.needed() == set()


def test_after_the_wait_a_message_goes_without_ids_and_its_partition_stalls() -> None:
    join = PatternJoin(wait=30)
    join.hold(APP, 0, 10, 0, now=0)
    assert released(join, 29.9) == {}
    assert released(join, 30) == {10: ({}, False)}
    assert join.stalled == {(APP, 0)}
    # stalled (the worker is away): the next message does not wait at all
    join.hold(APP, 0, 11, 0, now=31)
    assert join.next_deadline() == 31 and released(join, 31) == {11: ({}, False)}
    # the worker is back: a message resolved in time ends the stall
    join.hold(APP, 0, 12, 0, now=40)
    join.add(record(0, {APP: (0, 12)}, [(APP, 12, 0, "p1")]))
    assert released(join, 40) == {12: ({0: "p1"}, True)}
    assert join.stalled == set()
    join.hold(APP, 0, 13, 0, now=41)
    assert join.next_deadline() == 71


def test_a_forwarded_line_waits_for_the_id_its_owner_publishes() -> None:
    join = PatternJoin(wait=30)
    join.hold(APP, 2, 5, 0, now=0)
    join.add(record(2, {APP: (5, 5)}, [(APP, 5, 0, "mine")], [(APP, 5, 1)]))
    assert released(join, 1) == {}  # item 1's host is owned by another partition
    join.add(record(2, mined=[(APP, 5, 1, "theirs")]))  # that partition's worker, via rekey
    assert released(join, 2) == {5: ({0: "mine", 1: "theirs"}, True)}
    # if the owner never publishes, the known ids still go with the message
    join.hold(APP, 2, 6, 0, now=3)
    join.add(record(2, {APP: (6, 6)}, [(APP, 6, 0, "mine")], [(APP, 6, 1)]))
    assert released(join, 33) == {6: ({0: "mine"}, False)}
    assert join.stalled == set()  # covered: the partition's worker is there


def test_only_partitions_held_are_tracked_and_released_offsets_are_pruned() -> None:
    join = PatternJoin(wait=30)
    join.add(record(0, {APP: (0, 5)}, [(APP, 3, 0, "p")]))  # not tracked yet: dropped
    assert join.known == {}
    join.hold(APP, 0, 3, 3, now=0)
    assert join.seeks() == {0: 3}  # ... so the feed reads partition 0 again from t=3 ms
    join.add(record(0, {APP: (0, 5), NGINX: (0, 9)}, [(APP, 3, 0, "p")]))
    assert set(join.known) == {(APP, 0)}  # nginx[0] is another sink member's
    assert released(join, 1) == {3: ({0: "p"}, True)}
    known = join.known[(APP, 0)]
    assert known.floor == 4 and known.spans == [[4, 5]] and known.ids == {}
    # a rewind (the sink reads offset 3 again): below the floor, so read again from its time
    join.hold(APP, 0, 3, 3, now=2)
    assert join.seeks() == {0: 3} and known.floor == 3
    join.add(record(0, {APP: (0, 5)}, [(APP, 3, 0, "p")]))
    assert released(join, 3) == {3: ({0: "p"}, True)}
    join.forget(set())  # the partition went to another sink member
    assert join.known == {}


def test_a_message_resolved_before_an_earlier_one_keeps_what_the_earlier_one_needs() -> None:
    join = PatternJoin(wait=30)
    join.hold(APP, 0, 1, 0, now=0)
    join.hold(APP, 0, 2, 0, now=0)
    join.add(record(0, {APP: (1, 2)}, [(APP, 1, 0, "a"), (APP, 2, 0, "b")], [(APP, 1, 1)]))
    assert released(join, 1) == {2: ({0: "b"}, True)}
    assert join.known[(APP, 0)].floor == 1  # offset 1 is still held: nothing of it pruned
    join.add(record(0, mined=[(APP, 1, 1, "c")]))
    assert released(join, 2) == {1: ({0: "a", 1: "c"}, True)}


def test_overlapping_and_replayed_coverage_merges() -> None:
    join = PatternJoin(wait=30)
    join.hold(APP, 0, 0, 0, now=0)
    known = join.known[(APP, 0)]
    for first, last in [(0, 4), (10, 12), (5, 9), (3, 6), (20, 20)]:
        known.cover(first, last)
    assert known.spans == [[0, 12], [20, 20]]
    assert [o for o in range(22) if known.covered(o)] == [*range(13), 20]
