"""PatternBook: miners per partition, changelog entries with their partition, rebalance."""

from __future__ import annotations

import json

from patterns.book import PatternBook


def test_miners_per_partition_share_ids_and_move_with_their_partition() -> None:
    book = PatternBook(max_clusters=2)
    a = book.miner(0).mine("shop", "user 1 logged in", 1.0)
    b = book.miner(1).mine("shop", "user 2 logged in", 2.0)
    assert a.id == b.id  # same service and template: same id on every partition
    for i, word in enumerate(["x", "y", "z"]):
        book.miner(1).mine("shop", f"{word} failed", 3.0 + i)
    changes = book.collect()
    assert {p for p, _, _ in changes} == {0, 1}
    deleted = [key for p, key, state in changes if state is None]
    assert len(deleted) == 2 and all(p == 1 for p, _, s in changes if s is None)
    assert book.counters() == {"lines_truncated": 0, "lines_invalid_utf8": 0, "clusters_evicted": 2}
    assert sorted((p, len(t.clusters)) for p, t in book.trees()) == [(0, 1), (1, 2)]
    assert book.collect() == []

    other = PatternBook(max_clusters=2)
    for partition, key, state in json.loads(json.dumps(changes)):
        if state is not None and partition == 1:
            other.restore(partition, key, state)
    assert (
        other.miner(1).mine("shop", "z failed", 9.0).id
        == book.miner(1).mine("shop", "z failed", 9.0).id
    )
    assert sorted(s for s, _ in book.patterns()) == ["shop", "shop", "shop"]
    assert [c.id for _, c in book.patterns("shop", since=4.5)] == [
        book.miner(1).mine("shop", "z failed", 10.0).id
    ]
    book.drop_partitions({0})
    assert list(book.miners) == [0]


def test_mine_returns_the_cluster_and_the_services_first_line() -> None:
    book = PatternBook()
    first, since = book.mine(3, "shop", "user 1 logged in", 50.0)
    assert since == 50.0 and first.count == 1
    again, since = book.mine(3, "shop", "user 2 logged in", 60.0)
    assert again is first and since == 50.0
    assert book.mine(4, "shop", "user 3 logged in", 70.0)[1] == 70.0  # per partition
