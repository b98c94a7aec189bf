"""Kill -9 under load: a worker killed with SIGKILL during a W1 load and restarted; every final
window equals the brute force of the input sent (real broker).

W1 is the benchmark's workload (devtools/bench/workloads.py): 1,000 hosts x 10 gauge series,
one Telegraf JSON metric per Kafka message keyed by host, a 10-s interval. The load is produced
as fast as the broker takes it; the worker is killed once it has applied about 40 % and a fresh
one takes over, then one far-future record per host closes every window. Windows are small, so
they close throughout the load; the idle allowance is long so nothing closes by the wall clock.
300,000 metrics: about 140 s on the 2-core machine, within ``make test``'s budget.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.services import Services
from app.settings import load_settings
from devtools.bench.workloads import HOSTS as W1_HOSTS
from devtools.bench.workloads import host_name, w1_messages
from tests.integration.expected_windows import Sizes, expected_finals, points_of
from tests.integration.runs import Run, closing_messages, wait_for

pytestmark = pytest.mark.integration

T0 = 1_800_000_000  # aligned to every window size used here


@pytest.mark.timeout(900)
async def test_kill_9_during_a_w1_load_gives_the_brute_force_final_windows(
    own_broker: Services, tmp_path: Path
) -> None:
    count, sizes = 300_000, Sizes(60, 120, 60)  # 110,000 final windows; about 140 s here
    began = time.monotonic()
    settings = {
        "tumbling_size": str(sizes.tumbling),
        "hopping_size": str(sizes.hopping),
        "hopping_step": str(sizes.step),
        "grace": "5",
        "idle_timeout": "3600",
    }
    data = [(m.key, m.value) for m in w1_messages(count, T0)]
    hosts = [host_name(h) for h in range(W1_HOSTS)]
    counters = frozenset(load_settings({}).counter_fields)
    want = expected_finals(points_of(v for _, v in data), sizes, counters)
    run = Run(own_broker, tmp_path, settings)
    await run.setup()
    try:
        victim = run.worker("victim")
        await asyncio.to_thread(victim.start)
        producing = asyncio.create_task(run.produce(data))
        await wait_for(lambda: run.records_in() >= count * 0.4, 600, "40 % of the load", run)
        seen = run.records_in()
        victim.kill9()
        killed_at = time.monotonic() - began
        restarted = run.worker("restarted")
        await asyncio.to_thread(restarted.start, 120)
        await producing
        await run.produce(closing_messages(hosts, T0 + 100_000))
        finals = await run.finals(want, timeout=600)
        # everything sent is in once the closing records are: nothing counted twice
        restarted_in = run.records_in()
        workers = run.describe()
    finally:
        run.stop()
    print(
        f"\nW1 {count} kill -9 at {seen} records in ({killed_at:.0f} s): {finals.summary()}; "
        f"restarted worker applied {restarted_in:.0f}; test {time.monotonic() - began:.0f} s"
    )
    assert not finals.problems(), f"{finals.problems()}\n{workers}"
    assert seen + restarted_in <= count + len(hosts), "records applied twice"
