"""A backlog whose topics the client hands out one after the other (agents/align.py).

The error-spike scenario (3 hosts, nginx and app logs, 15 minutes of event time, the default
rules) is put on the in-memory source in event order, then fetched in batches of 700: the
source hands out each topic's partition in name order, so the app logs come minutes ahead of
the nginx lines, the lopsided fetch of a catch-up. The worker must apply the records in the
order they were produced and raise exactly the alerts of a run that read the whole backlog as
one batch. With the aligner off the same run shows the bug it fixes (README, known issues
until 2026-12-07): the hosts' log clocks follow the app logs alone, and the 5xx rule is judged
on windows without the nginx lines.
"""

from __future__ import annotations

from typing import Any

import orjson

from devtools.bench.memory import memory_worker
from tests.integration.test_alerting import spike_records

RECORDS = spike_records()


async def run(batch: int, align_wait: str) -> tuple[list[int], list[bytes]]:
    """Applied records' timestamps (the put order) and the alert records, sorted."""
    env = {"LOOKOUT_PATTERNS": "false", "LOOKOUT_APP_ID": "align",
           "LOOKOUT_INPUT_ALIGN_WAIT": align_wait}  # fmt: skip
    lk, out, source, fetcher = memory_worker(env, batch)
    lk.store._recovered()
    applied: list[int] = []
    process = lk.pipeline.process

    async def spy(records: Any) -> None:
        applied.extend(r.timestamp for r in records)
        await process(records)

    lk.pipeline.process = spy  # type: ignore[method-assign]
    for r in RECORDS:
        source.put(lk.settings.topic(r.kind), r.value, r.key.encode())
    while await fetcher.fetch_once():
        pass
    assert fetcher.aligner is None or fetcher.aligner.held == 0
    return applied, sorted(body for _key, body, _partition in out.alerts)


def first_pending(alerts: list[bytes], rule: str) -> dict[str, float]:
    """Per host, the event time ``rule`` first went pending."""
    found: dict[str, float] = {}
    for body in alerts:
        a = orjson.loads(body)
        if a["rule"] == rule and a["to_state"] == "pending":
            host = a["labels"]["host"]
            found[host] = min(found.get(host, a["event_time"]), a["event_time"])
    return found


async def test_a_lopsided_backlog_is_applied_in_produce_order_with_one_batchs_alerts() -> None:
    whole_order, whole_alerts = await run(len(RECORDS), "2")
    assert whole_order == sorted(whole_order)  # one batch: merged by timestamp
    order, alerts = await run(700, "2")
    assert order == list(range(len(RECORDS)))
    assert alerts == whole_alerts
    assert first_pending(alerts, "nginx_5xx_error_rate")  # the spike is seen at all


async def test_without_alignment_the_same_backlog_judges_the_spike_late() -> None:
    _, whole_alerts = await run(len(RECORDS), "2")
    order, alerts = await run(700, "0")
    assert order != sorted(order)  # app logs applied minutes ahead of the nginx lines
    expected = first_pending(whole_alerts, "nginx_5xx_error_rate")
    got = first_pending(alerts, "nginx_5xx_error_rate")
    assert expected and all(got.get(h, float("inf")) > t for h, t in expected.items())
