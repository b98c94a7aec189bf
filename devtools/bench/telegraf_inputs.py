"""W1f: Telegraf's system inputs as they really report, one ``json`` metric per message (pure).

Every host reports, each 10-s interval, the metrics of Telegraf's cpu (``totalcpu``, ``percpu =
false``, ``report_active``: 10 ``usage_*`` fields and ``usage_active``), mem (10 fields), disk
(7), diskio (11), net (8), system (6) and processes (11) inputs: 7 metrics and 64 numeric fields
per host and interval. Values come from the simulator's random walks
(:class:`devtools.simulator.machines.HostMetrics`, seeded, so the workload is the same every
run); processes is added here. Order: interval by interval, host by host; keyed by host.
"""

from __future__ import annotations

from collections.abc import Iterator

from devtools.bench.workloads import HOSTS, INTERVAL, Message, host_name, intervals_for
from devtools.simulator.machines import HostMetrics
from devtools.simulator.wire import telegraf_json
from formats.points import FieldValue, Metric

SEED = 15
METRICS_PER_HOST = 7
METRICS_PER_INTERVAL = HOSTS * METRICS_PER_HOST
FIELDS_PER_HOST = 64


def w1f_intervals(count: int) -> int:
    """Whole intervals (7,000 metrics each) needed to send ``count`` metrics."""
    return intervals_for(count, METRICS_PER_INTERVAL)


def processes_fields(h: int, interval: int) -> dict[str, FieldValue]:
    """Telegraf's ``processes`` input on Linux: process counts by state, and threads."""
    running = 1 + (h + interval) % 4
    sleeping = 180 + (h * 31 + interval * 7) % 120
    idle = 40 + h % 30
    zombies = (h + interval) % 97 == 0
    total = running + sleeping + idle + int(zombies)
    return {
        "blocked": (h * 13 + interval) % 3 // 2,
        "dead": 0,
        "idle": idle,
        "paging": 0,
        "running": running,
        "sleeping": sleeping,
        "stopped": 0,
        "total": total,
        "total_threads": total * 3 + h % 50,
        "unknown": 0,
        "zombies": int(zombies),
    }


def host_sample(machine: HostMetrics, h: int, interval: int, ts: int) -> list[Metric]:
    """The 7 metrics of host ``h`` at one interval (cpu-total only, plus processes)."""
    sample = [m for m in machine.sample(float(ts)) if m.tags.get("cpu", "cpu-total") == "cpu-total"]
    sample.append(Metric("processes", {"host": machine.name}, processes_fields(h, interval), ts))
    return sample


def w1f_messages(count: int, start: int) -> Iterator[Message]:
    """W1f: one metric with all its fields per message, keyed by host, interval by interval."""
    names = [host_name(h) for h in range(HOSTS)]
    keys = [name.encode() for name in names]
    machines = [HostMetrics(names[h], h, SEED, float(start), INTERVAL) for h in range(HOSTS)]
    for i in range(w1f_intervals(count)):
        ts = start + i * INTERVAL
        for h in range(HOSTS):
            for m in host_sample(machines[h], h, i, ts):
                yield Message(keys[h], telegraf_json(m), ts * 1000, 1, len(m.fields))
