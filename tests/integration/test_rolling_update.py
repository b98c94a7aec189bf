"""Rolling update rehearsal without Kubernetes: what a StatefulSet rollout does to the workers.

Two workers run on the local stack while Telegraf-format traffic streams in (8 hosts, 90 s of
one-second cpu readings, paced over 40 s of wall time; two hosts run hot for 30 s, so the
alert rule fires and resolves). Each worker in turn, highest ordinal first as a StatefulSet
does, is taken out of the API's endpoints, stopped with SIGTERM, and replaced by a fresh process
with an empty data dir; the next one is replaced only after the new one has its partitions
("ok" in /api/health: what the startup probe waits for). Meanwhile a client calls the API
through the endpoints that a Service would list, ten times a second.

Expected final windows are computed by brute force from the records sent (every field of the
final per host, window kind and start: tests/integration/expected_windows.py); none may be
missing, extra or duplicated (a clean stop re-emits nothing). The alert
transitions must be firing then resolved, once each, for the hot hosts, and none for the others.
The longest API gaps and the workers' SIGTERM-to-exit times are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from tests.integration.expected_windows import Sizes, compare, expected_finals, points_of
from tests.integration.topic_io import produce, read_topic
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

HOSTS = [f"host-{i:02d}" for i in range(8)]
HOT = {"host-00", "host-05"}
HOT_FROM, HOT_TO = 30, 60  # seconds after T0 with usage_active above the threshold
SECONDS = 90
T0 = 1_800_000_000  # aligned to every window size used here
TUMBLING, HOPPING, STEP, GRACE = 10, 30, 10, 5
PACE = 40.0  # wall seconds over which the input is produced
SETTINGS = {
    "tumbling_size": str(TUMBLING),
    "hopping_size": str(HOPPING),
    "hopping_step": str(STEP),
    "grace": str(GRACE),
    "idle_timeout": "3600",
    "batch_max": "40",
    "batch_within": "0.05",
}
RULES = """\
rules:
  - name: cpu_hot
    measurement: cpu
    field: usage_active
    match:
      cpu: cpu-total
    aggregate: mean
    window: tumbling
    op: ">"
    threshold: 90
    recovery: 80
    severity: warning
"""


def usage(host: str, second: int) -> float:
    """The cpu usage_active reading of ``host`` at ``T0 + second``."""
    if host in HOT and HOT_FROM <= second < HOT_TO:
        return 95.0 + second % 5
    return (second * 7 + HOSTS.index(host) * 13) % 60 + 0.5


def input_messages() -> list[tuple[bytes, bytes]]:
    """(host, Telegraf JSON) in event-time order; then one far-future reading per host."""
    out = []
    for s in range(SECONDS):
        for host in HOSTS:
            metric = {
                "name": "cpu",
                "tags": {"host": host, "cpu": "cpu-total"},
                "fields": {"usage_active": usage(host, s)},
                "timestamp": T0 + s,
            }
            out.append((host.encode(), orjson.dumps(metric)))
    return out


def closing_messages() -> list[tuple[bytes, bytes]]:
    """One reading per host far in the future: every window of the real data closes."""
    return [
        (
            host.encode(),
            orjson.dumps(
                {
                    "name": "cpu",
                    "tags": {"host": host, "cpu": "cpu-total"},
                    "fields": {"usage_active": 1.0},
                    "timestamp": T0 + 10_000,
                }
            ),
        )
        for host in HOSTS
    ]


def expected_episodes() -> dict[str, tuple[int, int]]:
    """Brute force: hot host -> (start of the first tumbling window whose mean is above 90,
    start of the first later one whose mean is at or below 80)."""
    out = {}
    for host in HOT:
        means = {
            start: sum(usage(host, s) for s in range(start, start + TUMBLING)) / TUMBLING
            for start in range(0, SECONDS, TUMBLING)
        }
        fire = min(s for s, m in means.items() if m > 90)
        resolve = min(s for s, m in means.items() if s > fire and m <= 80)
        out[host] = (T0 + fire, T0 + resolve)
    return out


class ApiWatch:
    """Calls the API ten times a second through the endpoints a Service would list."""

    def __init__(self) -> None:
        self.endpoints: list[Worker] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_ok: dict[str, float] = {}
        self.longest: dict[str, float] = {"health": 0.0, "routed": 0.0}
        self.calls = 0
        self.failures = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def set_endpoints(self, workers: list[Worker]) -> None:
        with self.lock:
            self.endpoints = list(workers)

    def _call(self, worker: Worker, path: str) -> bool:
        try:
            with urllib.request.urlopen(worker.url + path, timeout=3) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _run(self) -> None:
        paths = {"health": "/api/health", "routed": "/api/hosts/host-03/windows?kind=tumbling"}
        n = 0
        started = time.monotonic()
        self.last_ok = dict.fromkeys(paths, started)
        while not self.stop.is_set():
            with self.lock:
                workers = list(self.endpoints)
            for name, path in paths.items():
                n += 1
                ok = bool(workers) and self._call(workers[n % len(workers)], path)
                now = time.monotonic()
                self.calls += 1
                if ok:
                    self.longest[name] = max(self.longest[name], now - self.last_ok[name])
                    self.last_ok[name] = now
                else:
                    self.failures += 1
            self.stop.wait(0.1)

    def finish(self) -> dict[str, float]:
        """Stop calling; the longest time between two successful answers, per path."""
        self.stop.set()
        self.thread.join(10)
        now = time.monotonic()
        for name, last in self.last_ok.items():
            self.longest[name] = max(self.longest[name], now - last)
        return self.longest


def sigterm(worker: Worker, timeout: float = 60.0) -> float:
    """SIGTERM (what the kubelet sends first); the seconds until the process exited."""
    assert worker.proc is not None and worker.proc.poll() is None
    started = time.monotonic()
    os.killpg(worker.proc.pid, signal.SIGTERM)
    try:
        worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.kill9()
        raise AssertionError(
            f"{worker.name} ignored SIGTERM for {timeout} s:\n{worker.tail()}"
        ) from None
    return time.monotonic() - started


def assigned(workers: list[Worker]) -> list[int]:
    """Partitions held by the workers, as their /api/health says (all must say ok)."""
    out: list[int] = []
    for w in workers:
        health = w.get("/api/health")
        if health["status"] != "ok":
            return []
        out += health["partitions"]
    return out


async def wait_for(cond: Any, timeout: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    tails = "\n".join(f"--- {w.name}\n{w.tail(15)}" for w in workers)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@pytest.mark.timeout(240)
async def test_rolling_update_loses_and_duplicates_nothing(
    stack_services: Services, tmp_path: Path
) -> None:
    prefix = f"ru{uuid.uuid4().hex[:8]}."
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = worker_env(stack_services, prefix, rules=str(rules), **SETTINGS)
    settings = load_settings(env)
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    partitions = settings.partitions
    began = time.monotonic()

    live = [Worker(env, tmp_path, name=f"worker-{i}") for i in range(2)]
    everyone = list(live)
    watch = ApiWatch()
    try:
        for w in live:
            await asyncio.to_thread(w.start)
        await wait_for(
            lambda: sorted(assigned(live)) == list(range(partitions)), 60, "2 workers", live
        )
        watch.set_endpoints(live)
        watch.thread.start()
        messages, sent = input_messages(), [0]
        producing = asyncio.create_task(
            produce(stack_services, names.metrics, messages, PACE, sent)
        )
        # the rollout starts once both workers hold window state
        await wait_for(
            lambda: all(w.get("/api/health")["records_in"] > 0 for w in live),
            30,
            "input on both workers",
            live,
        )

        stops, at = [], []
        for ordinal in (1, 0):  # a StatefulSet rolls the highest ordinal first
            old = live[ordinal]
            watch.set_endpoints([w for w in live if w is not old])  # terminating: no endpoint
            at.append(sent[0] / len(messages))
            stops.append(await asyncio.to_thread(sigterm, old))
            new = Worker(env, tmp_path, name=f"worker-{ordinal}-new")
            everyone.append(new)
            live[ordinal] = new
            await asyncio.to_thread(new.start)  # the startup probe: status ok with partitions
            await wait_for(
                lambda: sorted(assigned(live)) == list(range(partitions)),
                60,
                "the group to settle",
                everyone,
            )
            watch.set_endpoints(live)
        rollout_done = time.monotonic()

        await producing
        await produce(stack_services, names.metrics, closing_messages(), 0)
        want = expected_finals(
            points_of(value for _, value in messages), Sizes(TUMBLING, HOPPING, STEP)
        )
        records = await read_topic(
            stack_services, names.windows, lambda got: len(got) >= len(want), timeout=60
        )
        gaps = watch.finish()
        transitions = [
            r
            for r in await read_topic(stack_services, names.alerts, lambda got: True, timeout=10)
            if r.get("type") == "transition"
        ]
    finally:
        watch.stop.set()
        for w in everyone:
            w.stop()

    # --- final windows: none missing, none extra, none duplicated, values as brute-forced ---
    finals = compare(records, want)
    episodes = expected_episodes()
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in sorted(transitions, key=lambda r: r["event_time"]):
        by_host[t["labels"]["host"]].append(t)

    print(
        f"\nrolling update rehearsal: {finals.summary()}; alert transitions "
        f"{ {h: [t['to_state'] for t in ts] for h, ts in sorted(by_host.items())} }; "
        f"longest API gap {gaps['health']:.2f} s (/api/health), {gaps['routed']:.2f} s "
        f"(routed /api/hosts/.../windows), {watch.failures} of {watch.calls} calls failed; "
        f"SIGTERM to exit {', '.join(f'{s:.1f} s' for s in stops)} (sent at "
        f"{', '.join(f'{a:.0%}' for a in at)} of the input); "
        f"rollout {rollout_done - began:.1f} s, test {time.monotonic() - began:.1f} s"
    )
    assert not finals.problems(), finals.problems()
    assert finals.duplicates == 0, f"{finals.duplicates} final windows emitted twice"

    # --- alerts: firing then resolved, once each, for the hot hosts only ---
    assert set(by_host) == HOT, f"transitions for {sorted(by_host)}"
    for host, items in by_host.items():
        assert [t["to_state"] for t in items] == ["firing", "resolved"], (host, items)
        fire_at, resolve_at = episodes[host]
        firing, resolved = items
        assert fire_at <= firing["event_time"] <= fire_at + TUMBLING + GRACE, (host, firing)
        assert resolve_at <= resolved["event_time"] <= resolve_at + TUMBLING + GRACE, host
    assert len({t["id"] for t in transitions}) == len(transitions), "duplicate transitions"

    # --- the API answered throughout; a clean stop is quick ---
    assert gaps["health"] < 3.0, f"the API did not answer for {gaps['health']:.1f} s"
    assert gaps["routed"] < 30.0, f"routed requests failed for {gaps['routed']:.1f} s"
    assert max(stops) < 30.0, "terminationGracePeriodSeconds (60) must cover a clean stop"
    assert at[-1] < 1.0, "the whole rollout must happen while traffic streams in"
