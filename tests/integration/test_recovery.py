"""Kill -9, rebalance and delivery holes: every final window equals the brute force (real broker).

The same fixed input (12 hosts, 2 minutes of one-second Telegraf batches of a cpu gauge pair and
a network counter, then one far-future record per host that closes every window of the real
data) is fed to fresh pipelines: killed with SIGKILL mid-stream and restarted; scaled from one
worker to two and back to one; and a worker whose source drops a run of records once
(tests/integration/holey_worker.py), killed with SIGKILL while that hole is open and restarted
into the same drop, which it must re-read. Small windows (10 s tumbling, 30 s / 10 s hopping,
5 s grace) keep it fast; the idle allowance is long so nothing closes by the wall clock.

The expected final windows are computed from the input alone (expected_windows.py here): every
one present, none unexpected, every field as brute-forced (percentiles within the sketch's
1 %), and an id seen twice only as an identical re-emit (the README allows one after a crash
between emitting a final and recording it; a clean rebalance re-emits nothing).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.services import Services
from app.settings import load_settings
from tests.integration.expected_windows import (
    Outcome,
    Sizes,
    WindowKey,
    expected_finals,
    points_of,
)
from tests.integration.runs import Run, closing_messages, wait_for

pytestmark = pytest.mark.integration

HOSTS = [f"host-{i:02d}" for i in range(12)]
SECONDS = 120
T0 = 1_800_000_000  # aligned to every window size used here
SIZES = Sizes(tumbling=10, hopping=30, step=10)
WINDOWS = {
    "tumbling_size": str(SIZES.tumbling),
    "hopping_size": str(SIZES.hopping),
    "hopping_step": str(SIZES.step),
    "grace": "5",
    "idle_timeout": "3600",
    "batch_max": "40",
    "batch_within": "0.05",
}


def data_messages() -> list[tuple[bytes, bytes]]:
    """(host, Telegraf batch) in event-time order."""
    out = []
    for s in range(SECONDS):
        for i, host in enumerate(HOSTS):
            metrics = [
                {
                    "name": "cpu",
                    "tags": {"host": host, "cpu": "cpu-total"},
                    "fields": {"usage_active": (s * 7 + i * 13) % 100 + 0.5, "usage_idle": s % 9},
                    "timestamp": T0 + s,
                },
                {
                    "name": "net",
                    "tags": {"host": host, "interface": "eth0"},
                    "fields": {"bytes_recv": 1000 * s + i},
                    "timestamp": T0 + s,
                },
            ]
            out.append((host.encode(), orjson.dumps({"metrics": metrics})))
    return out


def input_messages() -> list[tuple[bytes, bytes]]:
    """Everything a run sends, the closing records last."""
    return data_messages() + closing_messages(HOSTS, T0 + 10_000)


EXPECTED_RECORDS = SECONDS * len(HOSTS) * 2 + len(HOSTS)


@pytest.fixture(scope="module")
def want() -> dict[WindowKey, dict[str, Any]]:
    """Brute-force final windows of the data messages (net.bytes_recv is a counter)."""
    counters = frozenset(load_settings({}).counter_fields)
    result = expected_finals(points_of(v for _, v in data_messages()), SIZES, counters)
    # 12 hosts x 3 series: 12 tumbling windows and 14 hopping windows each
    assert len(result) == len(HOSTS) * 3 * (12 + 14)
    return result


async def kill_9_run(
    own_broker: Services, tmp_path: Path, want: dict[WindowKey, Any]
) -> tuple[Outcome, str]:
    """One run: a worker killed with SIGKILL a quarter into the input, then restarted.

    Returns the checked finals and the workers' health and log tails (for a failure message).
    """
    run = Run(own_broker, tmp_path, WINDOWS)
    await run.setup()
    try:
        first = run.worker("victim")
        await asyncio.to_thread(first.start)
        producing = asyncio.create_task(run.produce(input_messages(), rate=400))
        await wait_for(
            lambda: run.records_in() > EXPECTED_RECORDS // 4, 60, "a quarter of input", run
        )
        first.kill9()
        second = run.worker("restarted")
        await asyncio.to_thread(second.start)
        await producing
        finals = await run.finals(want, timeout=90)
        return finals, run.describe()
    finally:
        run.stop()


async def test_kill_9_mid_stream_gives_the_brute_force_final_windows(
    want: dict[WindowKey, Any], own_broker: Services, tmp_path: Path
) -> None:
    """A worker killed with SIGKILL mid-stream and restarted loses nothing; a final it re-emits
    is identical to the first copy.

    Two causes of lost windows were found here: standby copies rebuilt as live state
    (tests/agents/test_rebuild.py), and records Faust dropped at the end of a recovery
    (tables/ordering.py; forced in test_a_hole_open_at_a_kill_9_is_re_read_after_restart).
    """
    finals, workers = await kill_9_run(own_broker, tmp_path, want)
    print(f"\nkill -9: {finals.summary()}")
    missing = finals.missing
    assert not missing, f"{len(missing)} final windows lost: {lost_windows(missing)}\n{workers}"
    assert not finals.problems(), f"{finals.problems()}\n{workers}"


def lost_windows(keys: list[WindowKey]) -> str:
    """Lost windows grouped by (kind, window start offset from T0): which hosts lost each."""
    groups: dict[tuple[str, int], set[str]] = {}
    for host, *_series, kind, start in keys:
        groups.setdefault((kind, start - T0), set()).add(host)
    return "; ".join(
        f"{kind} +{start}s: {','.join(sorted(hosts))}"
        for (kind, start), hosts in sorted(groups.items())
    )


async def test_two_workers_and_rebalances_give_the_brute_force_final_windows(
    want: dict[WindowKey, Any], own_broker: Services, tmp_path: Path
) -> None:
    """One worker, a second joins (rebalance), the first leaves cleanly (rebalance again): every
    final as brute-forced, none emitted twice."""
    run = Run(own_broker, tmp_path, WINDOWS)
    await run.setup()
    try:
        one = run.worker("one")
        await asyncio.to_thread(one.start)
        messages = input_messages()
        cut = len(messages) // 3
        await run.produce(messages[:cut])
        two = run.worker("two")
        await asyncio.to_thread(two.start)  # rebalance: partitions move to the new worker
        await wait_for(
            lambda: len(one.get("/api/health")["partitions"]) < 8, 60, "partitions to be shared"
        )
        await run.produce(messages[cut : 2 * cut])

        # both workers answer for any host with the same values (routed to the owner)
        # every metric produced so far is processed (2 metrics per message), so the windows
        # are at rest when both workers are asked
        await wait_for(lambda: run.records_in() >= 2 * cut * 2, 120, "two thirds of input", run)
        for host in HOSTS:
            a = one.get(f"/api/hosts/{host}/windows?kind=hopping")
            b = two.get(f"/api/hosts/{host}/windows?kind=hopping")
            assert a == b, host
        assert set(one.get("/api/hosts")["hosts"]) == set(HOSTS)

        one.stop()  # rebalance again: everything back on one worker
        await asyncio.to_thread(two.wait_ready, 60)
        await run.produce(messages[2 * cut :])
        finals = await run.finals(want, timeout=120)
        workers = run.describe()
    finally:
        run.stop()
    print(f"\nrebalance: {finals.summary()}")
    assert not finals.problems(), f"{finals.problems()}\n{workers}"
    assert finals.duplicates == 0, f"{finals.duplicates} finals emitted twice without a crash"


DROP_FIRST, DROP_COUNT = 40, 10  # offsets of every metrics partition a holey worker drops once


async def test_a_hole_open_at_a_kill_9_is_re_read_after_restart(
    want: dict[WindowKey, Any], own_broker: Services, tmp_path: Path
) -> None:
    """Forced every run: the victim's source drops offsets 40..49 of every partition and it
    ignores the seek back, so the hole stays open and later records are held (not applied);
    it is killed with SIGKILL. The restarted worker resumes from its state's own position (the
    changelog sentinel, before the hole), its source drops the same run again, it seeks back
    and re-reads it: every final as brute-forced."""
    run = Run(own_broker, tmp_path, WINDOWS)
    await run.setup()
    drop = f"{DROP_FIRST}:{DROP_COUNT}"
    try:
        victim = run.worker("victim", HOLEY_DROP=drop, HOLEY_NO_SEEK="1")
        await asyncio.to_thread(victim.start)
        await run.produce(input_messages())
        # every partition past the run has its later records held (about 180 messages each)
        await wait_for(
            lambda: victim.metric("lookout_delivery_held_total") > 8 * 100,
            90,
            "held records behind the hole",
            run,
        )
        victim.kill9()
        restarted = run.worker("restarted", HOLEY_DROP=drop)
        await asyncio.to_thread(restarted.start)
        finals = await run.finals(want, timeout=90)
        holes = restarted.metric("lookout_delivery_holes_total")
        seeks = restarted.metric("lookout_delivery_seeks_total")
        workers = run.describe()
    finally:
        run.stop()
    print(f"\nhole + kill -9: {finals.summary()}; restarted: {holes} holes, {seeks} seeks")
    assert holes >= 1 and seeks >= 1, f"the restarted worker never re-read a hole\n{workers}"
    assert not finals.problems(), f"{finals.problems()}\n{workers}"
