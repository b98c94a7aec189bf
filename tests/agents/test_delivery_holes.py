"""A hole in the delivery of a partition: held, sought back, filled exactly (pipeline + store).

What the kill -9 test caught under load when Faust's stream delivered the inputs: at the end of a
recovery Faust cleared its stream queues, went on with the rest of the batch it had fetched and
discarded the re-fetched copies, so the agent saw offsets 94, 95, then 126. Applying 126 moved
the host's applied offset past the hole and the records of 96..125 were never counted. The batch
fetcher (agents/fetcher.py) reads the inputs itself now and hands out no such batch, but the
guard stays as the last line of defence; here the pipeline gets such batches directly, which
forces the hole path every time. The store writes to a RecordingOutput.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from agents.runtime import Lookout
from app.settings import load_settings
from app.worker import create_app
from tables.output import RecordingOutput
from tables.queries import current_window

T0 = 1_800_000_000
TOPIC = "telegraf.metrics"


@pytest.fixture
def lookout() -> tuple[Lookout, RecordingOutput]:
    settings = load_settings({"LOOKOUT_PARTITIONS": "1", "LOOKOUT_APP_ID": "holes-test"})
    lk = create_app(settings, "kafka://127.0.0.1:1")
    out = RecordingOutput()
    lk.store.out = out
    return lk, out


def events(offsets: list[int]) -> list[Any]:
    """Messages of host h1 on partition 0: offset i carries usage=i at event time T0+i."""
    out = []
    for i in offsets:
        value = orjson.dumps(
            {
                "name": "cpu",
                "tags": {"host": "h1"},
                "fields": {"usage": float(i)},
                "timestamp": T0 + i,
            }
        )
        msg = SimpleNamespace(topic=TOPIC, partition=0, offset=i, key=b"h1", value=value)
        out.append(msg)
    return out


def usage(lk: Lookout) -> dict[str, Any]:
    window = current_window(lk.store.engine, "h1", "tumbling")
    (value,) = window["series"].values()
    return value


def sentinel(out: RecordingOutput) -> Any:
    return orjson.loads(next(v for _, k, v in reversed(out.changelogs) if k == b"s|0") or b"")


async def test_records_after_a_hole_are_held_and_the_partition_is_re_read_from_it(
    lookout: tuple[Lookout, RecordingOutput],
) -> None:
    lk, out = lookout
    await lk.pipeline.process(events([0, 1, 2, 3, 4]))
    assert usage(lk)["count"] == 5
    assert sentinel(out)["in"] == {TOPIC: 4}

    # 5..7 dropped by the consumer; 8 and 9 arrive
    await lk.pipeline.process(events([8, 9]))
    assert usage(lk)["count"] == 5  # held, not applied
    assert out.seeks == [(TOPIC, 0, 5)]
    assert lk.stats.total("lookout_delivery_held_total") == 2
    assert lk.stats.total("lookout_delivery_seeks_total") == 1

    # the re-read fills the hole in order; nothing is counted twice
    await lk.pipeline.process(events([5, 6, 7, 8, 9]))
    value = usage(lk)
    assert value["count"] == 10 and value["sum"] == sum(range(10))
    assert sentinel(out)["in"] == {TOPIC: 9}
    assert out.seeks == [(TOPIC, 0, 5)]
    assert lk.stats.total("lookout_records_in_total") == 10

    # a replay (Faust's seek to an older committed offset) changes nothing, counts included
    await lk.pipeline.process(events(list(range(0, 10))))
    assert usage(lk)["count"] == 10
    assert lk.stats.total("lookout_records_in_total") == 10


async def test_a_restart_resumes_from_the_state_s_own_position_not_faust_s_commit(
    lookout: tuple[Lookout, RecordingOutput],
) -> None:
    """The changelog marker says what was applied; a restarted worker resumes from it, even when
    a consumer handed out records past a hole (Faust once committed past such holes)."""
    lk, out = lookout
    await lk.pipeline.process(events([0, 1, 2, 3, 4]))
    await lk.pipeline.process(events([8, 9]))  # held; then the worker dies

    restarted, out2 = lookout_from_changelog(out)
    assert restarted.store.order.prefix((TOPIC, 0)) == 4
    # Faust's committed offset was 10 (the hole and the held records acknowledged)
    await restarted.pipeline.process(events([10, 11]))
    assert out2.seeks == [(TOPIC, 0, 5)]
    await restarted.pipeline.process(events(list(range(5, 12))))
    value = usage(restarted)
    assert value["count"] == 12 and value["sum"] == sum(range(12))


def lookout_from_changelog(out: RecordingOutput) -> tuple[Lookout, RecordingOutput]:
    """A fresh worker whose table recovered ``out``'s changelog (what Faust's recovery does)."""
    settings = load_settings({"LOOKOUT_PARTITIONS": "1", "LOOKOUT_APP_ID": "holes-test"})
    lk = create_app(settings, "kafka://127.0.0.1:1")
    out2 = RecordingOutput()
    lk.store.out = out2
    store = lk.store.table.data
    for partition, key, value in out.changelogs:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = orjson.loads(value)
            store._key_partition[key] = partition  # type: ignore[attr-defined]
    lk.store.active_partitions = lambda: {0}  # type: ignore[method-assign]
    lk.store.rebuild()
    return lk, out2


async def test_a_dropped_tail_is_re_read_once_the_agent_is_idle(
    lookout: tuple[Lookout, RecordingOutput],
) -> None:
    """The consumer handed out 5..9 but they were dropped and no later record came: nothing
    reveals the hole but the consumer's read offset, checked when the agent is idle."""
    lk, out = lookout
    clock = [1000.0]
    lk.store.clock = lk.pipeline.clock = lambda: clock[0]
    lk.store.active_partitions = lambda: {0}  # type: ignore[method-assign]
    await lk.pipeline.process(events([0, 1, 2, 3, 4]))
    out.delivered = {(TOPIC, 0): 9, ("other.topic", 0): 50}

    clock[0] += 1.0  # not idle long enough: the records may still be queued
    await lk.store.close_idle()
    assert out.seeks == []
    clock[0] += 1.5
    await lk.store.close_idle()
    assert out.seeks == [(TOPIC, 0, 5)]  # only input topics are checked
    assert lk.stats.total("lookout_delivery_holes_total") == 1

    await lk.pipeline.process(events([5, 6, 7, 8, 9]))
    value = usage(lk)
    assert value["count"] == 10 and value["sum"] == sum(range(10))
    assert lk.store.order.gaps() == {}


async def test_a_read_offset_one_past_the_last_record_is_not_a_hole(
    lookout: tuple[Lookout, RecordingOutput],
) -> None:
    """After a seek Faust's read offset is the next record to read, not one it handed out."""
    lk, out = lookout
    clock = [1000.0]
    lk.store.clock = lk.pipeline.clock = lambda: clock[0]
    lk.store.active_partitions = lambda: {0}  # type: ignore[method-assign]
    await lk.pipeline.process(events([0, 1, 2, 3, 4]))
    out.delivered = {(TOPIC, 0): 5}
    clock[0] += 10
    await lk.store.close_idle()
    assert out.seeks == [] and lk.store.order.gaps() == {}
