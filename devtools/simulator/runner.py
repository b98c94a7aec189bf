"""Send the simulated traffic to Kafka: the I/O edge of the simulator.

Live mode (no ``count``/``duration``) starts event time at the wall clock and paces sending so
that event time advances ``speed`` times as fast as the wall clock. Fast mode sends ``count``
messages or ``duration`` seconds of event time as fast as the broker takes them. Either way the
run ends cleanly on the ``stop`` event (or Ctrl-C/SIGTERM when no event is given), with every
message sent so far delivered, and returns a :class:`SimStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app.settings import Settings
from app.topics import TopicNames
from devtools.simulator.generator import KIND_APP, KIND_METRICS, KIND_NGINX, TrafficGenerator
from devtools.simulator.options import SimOptions

PROGRESS_EVERY = 0.5  # seconds between progress lines


class SimulatorError(RuntimeError):
    """The run cannot go on (broker unreachable, messages not delivered); says what to do."""


@dataclass(slots=True)
class SimStats:
    """What a run sent: messages (per topic), the metrics and log entries in them, timing."""

    messages: int = 0
    metrics: int = 0
    logs: int = 0
    bytes: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    event_start: float = 0.0
    event_time: float = 0.0
    elapsed: float = 0.0
    scenario: str = "steady"
    stopped: bool = False
    failed: int = 0

    @property
    def rate(self) -> float:
        """Messages per wall-clock second."""
        return self.messages / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        """One-line progress: counts, rate, event time, active scenarios."""
        return (
            f"simulate: {self.messages:,} msgs ({self.metrics:,} metrics, {self.logs:,} logs) "
            f"{self.rate:,.0f} msg/s | event {_iso(self.event_time)} | {self.scenario}"
        )

    def summary(self) -> str:
        """The final report, ending with a newline."""
        topics = ", ".join(f"{t} {n:,}" for t, n in self.per_topic.items())
        text = (
            f"simulate: sent {self.messages:,} messages ({topics}) holding {self.metrics:,} "
            f"metrics and {self.logs:,} log entries, {self.bytes / 1e6:,.1f} MB in "
            f"{self.elapsed:.1f} s ({self.rate:,.0f} msg/s); event time "
            f"{_iso(self.event_start)} .. {_iso(self.event_time)}"
        )
        if self.stopped:
            text += " (stopped)"
        if self.failed:
            text += f"; {self.failed:,} NOT delivered"
        return text + "\n"


class _Deliveries:
    """Counts failed sends; keeps the first error for the report."""

    def __init__(self) -> None:
        self.failed = 0
        self.first: BaseException | None = None

    def done(self, fut: asyncio.Future[object]) -> None:
        if fut.cancelled():
            self.failed += 1
            return
        exc = fut.exception()
        if exc is not None:
            self.failed += 1
            self.first = self.first or exc


async def run(
    settings: Settings,
    opts: SimOptions,
    bootstrap_servers: str,
    *,
    progress: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> SimStats:
    """Produce the simulator's records to Kafka; see the module docstring for the modes.

    ``progress`` gets text ready to write to a terminal as is: a status line at most every
    0.5 s (starting with a carriage return, padded over the previous one) and, last, the
    summary (ending with a newline). ``clock`` gives the wall-clock start in live mode.
    """
    opts.check()
    names = TopicNames.from_settings(settings)
    topics = {KIND_METRICS: names.metrics, KIND_NGINX: names.logs_nginx, KIND_APP: names.logs_app}
    start = opts.start.timestamp() if opts.start is not None else clock()
    gen = TrafficGenerator(opts, start)
    stats = SimStats(
        per_topic=dict.fromkeys(topics.values(), 0), event_start=gen.start, event_time=gen.start
    )
    loop = asyncio.get_running_loop()
    signals: list[int] = []
    if stop is None:
        stop = asyncio.Event()
        signals = _on_signals(loop, stop)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="lookout-simulate",
        acks=1,
        linger_ms=10,
        compression_type=None,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    deliveries = _Deliveries()
    line = _Line(progress)
    began = loop.time()
    try:
        try:
            await producer.start()
        except KafkaError as exc:
            raise SimulatorError(
                f"cannot connect to Kafka at {bootstrap_servers} ({exc}); start the broker, "
                "or set LOOKOUT_BROKER_URL to a reachable one"
            ) from None
        await _pump(gen, opts, start, topics, producer, stop, stats, deliveries, line.status)
        await producer.flush()
    finally:
        await producer.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    stats.elapsed = loop.time() - began
    stats.failed = deliveries.failed
    line.final(stats.summary())
    if deliveries.failed:
        raise SimulatorError(
            f"{deliveries.failed:,} of {stats.messages:,} messages were not delivered to "
            f"{bootstrap_servers}: {deliveries.first!r}; check the broker and its logs"
        )
    return stats


async def _pump(
    gen: TrafficGenerator,
    opts: SimOptions,
    start: float,
    topics: dict[str, str],
    producer: AIOKafkaProducer,
    stop: asyncio.Event,
    stats: SimStats,
    deliveries: _Deliveries,
    progress: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    shown = began
    keys = {host: host.encode() for host in gen.hosts}
    end = gen.start + opts.duration if opts.duration is not None else None
    per_topic = stats.per_topic
    tally = gen.tally

    def report() -> None:
        nonlocal shown
        shown = loop.time()
        stats.elapsed = shown - began
        stats.scenario = gen.conditions(stats.event_time).describe()
        progress(stats.line())

    for record in gen.records(end):
        if not opts.fast:
            due = began + (record.time - start) / opts.speed
            while (delay := due - loop.time()) > 0.001 and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(delay, PROGRESS_EVERY))
                if loop.time() - shown >= PROGRESS_EVERY:
                    report()
        if stop.is_set():
            stats.stopped = True
            break
        topic = topics[record.kind]
        fut = await producer.send(
            topic, record.value, key=keys[record.key], timestamp_ms=int(record.time * 1000)
        )
        fut.add_done_callback(deliveries.done)
        stats.messages += 1
        stats.bytes += len(record.value)
        per_topic[topic] += 1
        stats.event_time = record.time
        stats.metrics, stats.logs = tally.metrics, tally.logs
        if stats.messages & 63 == 0:
            await asyncio.sleep(0)  # let the sender task and signal handlers run
            if loop.time() - shown >= PROGRESS_EVERY:
                report()
        if opts.count is not None and stats.messages >= opts.count:
            break
    report()


class _Line:
    """Turns status lines into one carriage-return-updated terminal line."""

    def __init__(self, out: Callable[[str], None] | None) -> None:
        self._out = out
        self._width = 0

    def status(self, text: str) -> None:
        if self._out is not None:
            self._out("\r" + text + " " * max(0, self._width - len(text)))
        self._width = len(text)

    def final(self, text: str) -> None:
        body = text.rstrip("\n")
        if self._out is not None:
            self._out("\r" + body + " " * max(0, self._width - len(body)) + "\n")
        self._width = 0


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            continue
        installed.append(sig)
    return installed


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
