"""WindowStore.rebuild after a rebalance: only active partitions become engine state.

Faust's table store also holds standby copies of other workers' partitions, read in the
background and possibly partial (the memory store drops standby keys whenever a recovery
completes). A partial standby copy turned into live objects used to win over the full changelog
re-read when the partition was later promoted, losing state (lost final windows after kill -9
while the dead member was still in the group).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agents.runtime import Lookout
from app.settings import load_settings
from app.worker import create_app
from tables.engine import HostState
from tables.panes import Pane

T0 = 1_800_000_000


@pytest.fixture
def lookout() -> Lookout:
    settings = load_settings({"LOOKOUT_PARTITIONS": "8", "LOOKOUT_APP_ID": "rebuild-test"})
    return create_app(settings, "kafka://127.0.0.1:1")


def host_state(host: str, partition: int, offset: int, mark: float) -> Any:
    hs = HostState(host=host, partition=partition, mark=mark, max_ts=mark)
    hs.hw = {"t": offset}
    return orjson.loads(orjson.dumps(hs.to_state()))


def pane_state(start: int, offset: int) -> Any:
    """A pane holding records up to ``offset`` (no series: the test is about which entries
    are restored, not their aggregates)."""
    return orjson.loads(orjson.dumps(Pane(start=start, hw={"t": offset}).to_state()))


def apply_changelog(lk: Lookout, partition: int, entries: dict[str, Any]) -> None:
    """What Faust's recovery does: bytes keys, decoded values, the key's partition noted."""
    store = lk.store.table.data
    for key, value in entries.items():
        store[key.encode()] = value
        store._key_partition[key.encode()] = partition  # type: ignore[attr-defined]


def test_standby_partitions_are_not_restored_and_promotion_reads_the_full_changelog(
    lookout: Lookout,
) -> None:
    lk = lookout
    store = lk.store
    # active 0-3; partition 5 is a standby copy, only partly read (its host state, newer
    # than any pane we have of it: the panes were dropped with the standby keys)
    apply_changelog(
        lk, 1, {"h|a": host_state("a", 1, 10, T0 + 20.0), f"p|a|{T0}": pane_state(T0, 10)}
    )
    apply_changelog(lk, 5, {"h|b": host_state("b", 5, 40, T0 + 60.0)})
    store.active_partitions = lambda: {0, 1, 2, 3}  # type: ignore[method-assign]
    store.rebuild()
    assert set(store.engine.hosts) == {"a"}
    assert T0 in store.engine.hosts["a"].panes
    # the standby entry stays a changelog copy (bytes key), never a live object
    assert "h|b" not in store.table.data
    assert b"h|b" in store.table.data

    # promotion: Faust re-reads partition 5's whole changelog (panes included)
    apply_changelog(
        lk,
        5,
        {
            "h|b": host_state("b", 5, 40, T0 + 60.0),
            f"p|b|{T0 + 60}": pane_state(T0 + 60, 40),
        },
    )
    store.active_partitions = lambda: set(range(8))  # type: ignore[method-assign]
    store.rebuild()
    assert set(store.engine.hosts) == {"a", "b"}
    b = store.engine.hosts["b"]
    assert b.partition == 5 and b.hw == {"t": 40}
    assert T0 + 60 in b.panes and b.panes[T0 + 60].hw == {"t": 40}
    # host a stayed live through the rebalance
    assert store.engine.hosts["a"].panes[T0].hw == {"t": 10}


def test_a_pane_without_its_host_state_keeps_the_changelog_partition(lookout: Lookout) -> None:
    lk = lookout
    store = lk.store
    apply_changelog(lk, 6, {f"p|c|{T0}": pane_state(T0, 3)})
    store.active_partitions = lambda: {6}  # type: ignore[method-assign]
    store.rebuild()
    assert store.engine.hosts["c"].partition == 6
    # and it survives the next rebuild (a -1 partition would have been dropped as foreign)
    store.rebuild()
    assert T0 in store.engine.hosts["c"].panes
