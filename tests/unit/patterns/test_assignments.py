"""lookout.patterns records: what a worker batch mined, encoded per input partition, decoded."""

from __future__ import annotations

import orjson
import pytest

from patterns.assignments import AssignmentError, AssignmentLog, decode

APP, NGINX = "logs.app", "logs.nginx"


def test_a_batch_becomes_one_record_per_input_partition_and_decodes_back() -> None:
    log = AssignmentLog()
    mined = {100: (100, 0, "aaaa"), 102: (102, 0, "bbbb", 102, 2, "aaaa")}
    for offset in range(100, 104):  # the pipeline: cover a message, then add its mined lines
        log.cover(APP, 3, offset, 1_000 + offset).extend(mined.get(offset, ()))
    log.cover(NGINX, 3, 7, 5_000).extend((7, 1, "cccc"))
    log.cover(APP, 1, 40, 900).extend((40, 0, "aaaa"))
    log.forward(APP, 3, 103, 1)
    records = log.take()
    assert not log and log.take() == []
    assert [(p, key, ts) for p, key, _v, ts in records] == [(1, b"1", 900), (3, b"3", 5_000)]

    three = decode(3, records[1][2])
    assert three.covered == {APP: (100, 103), NGINX: (7, 7)}
    assert three.ids == {
        APP: {100: {0: "aaaa"}, 102: {0: "bbbb", 2: "aaaa"}},
        NGINX: {7: {1: "cccc"}},
    }
    assert three.forwarded == {APP: {103: {1}}}
    one = decode(1, records[0][2])
    assert one.covered == {APP: (40, 40)} and one.ids == {APP: {40: {0: "aaaa"}}}

    # compact: ids once per record, offsets as deltas (about 6 bytes per mined line)
    doc = orjson.loads(records[1][2])
    assert doc["ids"] == ["aaaa", "bbbb", "cccc"]
    assert doc["m"][APP] == [100, 0, 0, 2, 0, 1, 0, 2, 0]


def test_forwarded_lines_are_published_under_their_origin_without_coverage() -> None:
    log = AssignmentLog()
    # a message forwarded through lookout.rekey from partition 5
    log.origin(APP, 5, 7_000).extend((12, 1, "dddd"))
    [(partition, _key, value, ts)] = log.take()
    assert (partition, ts) == (5, 7_000)
    got = decode(5, value)
    assert got.covered == {} and got.ids == {APP: {12: {1: "dddd"}}}


def test_lines_out_of_offset_order_round_trip() -> None:
    # a worker owning both partitions mines a forwarded line of partition 0 after its own
    log = AssignmentLog()
    log.cover(APP, 0, 50, 1).extend((50, 0, "a"))
    log.origin(APP, 0, 1).extend((7, 1, "b"))
    log.cover(APP, 0, 51, 1).extend((51, 0, "a"))
    log.forward(APP, 0, 50, 2)
    log.forward(APP, 0, 3, 0)
    [(_p, _k, value, _ts)] = log.take()
    got = decode(0, value)
    assert got.ids == {APP: {50: {0: "a"}, 7: {1: "b"}, 51: {0: "a"}}}
    assert got.forwarded == {APP: {50: {2}, 3: {0}}}


def test_many_lines_cost_a_few_bytes_each() -> None:
    log = AssignmentLog()
    for offset in range(1_000_000, 1_020_000):
        log.cover(APP, 0, offset, offset).extend((offset, 0, f"{offset % 40:016x}"))
    [(_p, _k, value, _ts)] = log.take()
    assert len(value) / 20_000 < 8
    assert len(decode(0, value).ids[APP]) == 20_000


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b"[]", b'{"v": 2}', b'{"v": 1, "m": {"a": [1, 0, 5]}, "ids": []}'],
)
def test_a_bad_record_raises_assignment_error(value: bytes) -> None:
    with pytest.raises(AssignmentError):
        decode(0, value)


def test_messages_of_partitions_interleaved_keep_their_own_spans() -> None:
    log = AssignmentLog()
    same_name = "".join(["logs.", "app"])  # equal to APP, another object
    log.cover(APP, 0, 1, 10).extend((1, 0, "a"))
    log.cover(APP, 1, 5, 20).extend((5, 0, "b"))
    log.cover(same_name, 1, 6, 30).extend((6, 0, "b"))
    log.cover(APP, 0, 2, 5).extend((2, 0, "c"))
    got = {p: (decode(p, v), ts) for p, _k, v, ts in log.take()}
    assert got[0][0].covered == {APP: (1, 2)} and got[0][1] == 10
    assert got[1][0].covered == {APP: (5, 6)} and got[1][1] == 30
    assert got[0][0].ids == {APP: {1: {0: "a"}, 2: {0: "c"}}}
    assert got[1][0].ids == {APP: {5: {0: "b"}, 6: {0: "b"}}}
