"""Telegraf-format traffic for a simulated fleet, as Kafka records in event-time order (pure).

Deterministic for a seed and a start time: no I/O, no wall clock. Ticks are aligned down to a
multiple of the interval (Telegraf's ``round_interval``). Every interval ``[t, t + interval)``:

* at ``t``: each host's system metrics (topic kind ``telegraf.metrics``; ``batch``: one message
  per host, ``json``: one per metric, ``influx``: one message of lines per host);
* during it: application logs (``logs.app``, one JSON record per message) and, with
  ``raw_logs``, raw nginx lines (``logs.nginx``, one line per message) at their own times;
* at ``t + interval`` (Telegraf's flush): each host's nginx access and error logs of the
  interval as Telegraf tail metrics (``logs.nginx``), in the chosen format; with ``influx``
  they go as ``batch`` JSON, since logs.nginx takes Telegraf JSON or raw lines.

Batches hold at most 1000 metrics (Telegraf's ``metric_batch_size``). A silent host produces
nothing while silent: no samples, no log lines, and the flush due while it is silent is lost.
Every record is keyed by its host.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from devtools.simulator.fleet import (
    client_pool,
    host_names,
    hosts_by_service,
    service_names,
    service_profiles,
    services_by_host,
)
from devtools.simulator.machines import HostMetrics
from devtools.simulator.options import SimOptions
from devtools.simulator.scenarios import BoundTimeline, Conditions
from devtools.simulator.traffic import AccessEntry, AppEntry, ErrorEntry, HostTraffic
from devtools.simulator.wire import (
    NginxTags,
    access_line,
    access_metric,
    app_json,
    error_metric,
    influx_lines,
    telegraf_batch,
    telegraf_json,
)
from formats.points import Metric

KIND_METRICS = "telegraf.metrics"
KIND_NGINX = "logs.nginx"
KIND_APP = "logs.app"
KINDS = (KIND_METRICS, KIND_NGINX, KIND_APP)
TELEGRAF_BATCH_SIZE = 1000

_first = itemgetter(0)


class SimRecord(NamedTuple):
    """One Kafka record: topic kind, key (the host), value bytes, event time (epoch seconds)."""

    kind: str
    key: str
    value: bytes
    time: float


@dataclass(slots=True)
class Tally:
    """What has been yielded so far: messages per kind, metrics and log entries inside them."""

    messages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    metrics: int = 0
    logs: int = 0


class TrafficGenerator:
    """The simulated fleet; :meth:`records` yields its traffic (one pass per instance)."""

    def __init__(self, opts: SimOptions, start: float) -> None:
        opts.check()
        self.opts = opts
        self.interval = int(opts.interval)
        self.start = math.floor(start / self.interval) * self.interval
        self.hosts = host_names(opts.hosts)
        self.services = service_names(opts.services)
        self.timeline: BoundTimeline = opts.resolved_timeline().bind(self.hosts, self.services)
        self.tally = Tally()
        self._profiles = service_profiles(self.services)
        self._serving = hosts_by_service(opts.hosts, opts.services)
        self._served = services_by_host(self._serving, opts.hosts)
        clients = client_pool(opts.seed)
        self._machines = [
            HostMetrics(name, i, opts.seed, self.start, self.interval)
            for i, name in enumerate(self.hosts)
        ]
        self._traffic = [HostTraffic(i, opts.seed, clients) for i in range(opts.hosts)]
        self._tags = [NginxTags(name) for name in self.hosts]
        self._load_rng = random.Random(f"{opts.seed}/load")
        self._load = [1.0] * opts.services
        self._resets_done: dict[int, int] = {}

    def conditions(self, t: float) -> Conditions:
        """The scenarios in force at event time ``t``."""
        return self.timeline.conditions(t - self.start)

    def records(self, end: float | None = None) -> Iterator[SimRecord]:
        """Records of every interval starting before ``end`` (forever if None), in time order."""
        tally = self.tally
        messages = tally.messages
        t = self.start
        while end is None or t < end:
            for record, items in self._interval(t):
                messages[record.kind] += 1
                if record.kind == KIND_METRICS:
                    tally.metrics += items
                else:
                    tally.logs += items
                yield record
            t += self.interval

    def _interval(self, t: int) -> list[tuple[SimRecord, int]]:
        end = t + self.interval
        seconds = range(t, end)
        conds = [self.timeline.conditions(s - self.start) for s in seconds]
        now = conds[0]
        for number, target, occurrence, at in self.timeline.resets(t - self.start):
            if self._resets_done.get(number) != occurrence:
                self._resets_done[number] = occurrence
                self._machines[target].reboot(self.start + at)

        out: list[tuple[SimRecord, int]] = []
        for h, host in enumerate(self.hosts):
            if h not in now.silent:
                sample = self._machines[h].sample(float(t), now.saturated.get(h))
                out.extend(self._telegraf(KIND_METRICS, host, sample, float(t)))

        for s in range(len(self._profiles)):
            walk = self._load[s] + 0.1 * (1.0 - self._load[s]) + self._load_rng.gauss(0, 0.04)
            self._load[s] = min(1.4, max(0.6, walk))

        timed: list[tuple[SimRecord, int]] = []
        flushed: list[tuple[SimRecord, int]] = []
        flush_silent = self.conditions(float(end)).silent
        for h, host in enumerate(self.hosts):
            alive = [s for s, c in zip(seconds, conds, strict=True) if h not in c.silent]
            if not alive or not self._served[h]:
                continue
            access, errors, apps = self._host_logs(h, seconds, conds, alive)
            if self.opts.raw_logs:
                for e in access:
                    timed.append((SimRecord(KIND_NGINX, host, access_line(e), e.time), 1))
                for x in errors:
                    timed.append((SimRecord(KIND_NGINX, host, x.line.encode(), x.time), 1))
            elif h not in flush_silent and (access or errors):
                tags = self._tags[h]
                names = self.services
                logs = [
                    access_metric(e, tags.access(names[e.service], e.status, e.verb))
                    for e in access
                ]
                logs.extend(error_metric(x, tags.error(names[x.service])) for x in errors)
                logs.sort(key=_metric_time)
                flushed.extend(self._telegraf(KIND_NGINX, host, logs, float(end), logs=True))
            for a in apps:
                value = app_json(a, host, self.services[a.service])
                timed.append((SimRecord(KIND_APP, host, value, a.time), 1))
        timed.sort(key=_record_time)
        out.extend(timed)
        out.extend(flushed)
        return out

    def _host_logs(
        self, h: int, seconds: range, conds: list[Conditions], alive: list[int]
    ) -> tuple[list[AccessEntry], list[ErrorEntry], list[AppEntry]]:
        traffic = self._traffic[h]
        access: list[AccessEntry] = []
        errors: list[ErrorEntry] = []
        apps: list[AppEntry] = []
        bytes_in = bytes_out = 0
        for s in self._served[h]:
            prof = self._profiles[s]
            per_second = self.opts.rate * self._load[s] / len(self._serving[s])
            mine: list[AccessEntry] = []
            for sec, c in zip(seconds, conds, strict=True):
                if h not in c.silent:
                    traffic.requests(sec, prof, per_second, c.spikes.get(s), mine, errors)
            traffic.background_errors(alive, prof, errors)
            if self.opts.app_logs:
                traffic.app_logs(alive, prof, mine, apps)
            bytes_out += sum(e.size for e in mine) + 250 * len(mine)
            bytes_in += 450 * len(mine)
            access.extend(mine)
        self._machines[h].add_traffic(bytes_in, bytes_out)
        if len(self._served[h]) > 1:
            access.sort(key=_first)
            apps.sort(key=_first)
        errors.sort(key=_first)
        return access, errors, apps

    def _telegraf(
        self, kind: str, host: str, metrics: Sequence[Metric], at: float, *, logs: bool = False
    ) -> list[tuple[SimRecord, int]]:
        fmt = self.opts.format
        if logs and fmt == "influx":
            fmt = "batch"  # logs.nginx takes Telegraf JSON or raw lines, not line protocol
        if fmt == "json":
            return [(SimRecord(kind, host, telegraf_json(m), at), 1) for m in metrics]
        encode = telegraf_batch if fmt == "batch" else influx_lines
        return [
            (SimRecord(kind, host, encode(chunk), at), len(chunk))
            for chunk in (
                metrics[i : i + TELEGRAF_BATCH_SIZE]
                for i in range(0, len(metrics), TELEGRAF_BATCH_SIZE)
            )
        ]


def generate(opts: SimOptions, start: float, end: float | None = None) -> Iterator[SimRecord]:
    """Shorthand: the records of a fresh :class:`TrafficGenerator` up to ``end``."""
    return TrafficGenerator(opts, start).records(end)


def _metric_time(m: Metric) -> float:
    return m.time or 0.0


def _record_time(pair: tuple[SimRecord, int]) -> float:
    return pair[0].time
