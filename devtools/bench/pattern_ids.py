"""What joining pattern ids onto stored lines costs, timed in process (no broker).

Worker side: the real pipeline and store (``app.worker.create_app`` with a recording output)
process one-line messages, mined app lines and nginx access lines, with the assignment records
(``lookout.patterns``) on and, for comparison, off (the pipeline then notes nothing). Sink side:
decoding those records and resolving every held message in the join. CPU seconds per line,
best of ``--rounds``. Run: ``python -m devtools.bench.pattern_ids [--lines N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from types import SimpleNamespace
from typing import Any

import orjson

from agents.pipeline import Pipeline
from app.settings import load_settings
from app.worker import create_app
from patterns.assignments import AssignmentLog, decode
from patterns.join import PatternJoin
from tables.output import RecordingOutput

T0 = 1_800_000_000
BATCH = 2000
TEMPLATES = (
    "order {n} failed: card declined by bank {m}",
    "user u{n} logged in from 10.1.{m}.7",
    "cache miss for key item:{n} after {m}ms",
    "upstream {m} answered 502 for /api/items/{n}",
)


def messages(topic: str, kind: str, count: int) -> list[Any]:
    """``count`` one-line messages of host ``h1`` on partition 0."""
    out = []
    for n in range(count):
        ts = T0 + n * 0.01
        if kind == "app":
            message = TEMPLATES[n % len(TEMPLATES)].format(n=n, m=n % 97)
            value = orjson.dumps(
                {"timestamp": ts, "level": "error", "service": "shop", "host": "h1",
                 "message": message}
            )  # fmt: skip
        else:
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
            value = f'10.0.0.{n % 250} - - [{stamp}] "GET /i/{n} HTTP/1.1" 200 5 "-" "c"'.encode()
        out.append(
            SimpleNamespace(
                topic=topic, partition=0, offset=n, key=b"h1", value=value,
                timestamp=int(ts * 1000), headers=(),
            )
        )  # fmt: skip
    return out


class _NoAssignments(AssignmentLog):
    """Records no line's pattern id (the worker's cost without ``lookout.patterns``)."""

    def cover(self, topic: str, partition: int, offset: int, ts_ms: int) -> Any:
        return None


async def worker_round(kind: str, count: int, assignments: bool) -> tuple[float, list[Any]]:
    """CPU seconds per line of one fresh worker over ``count`` lines; the records it sent."""
    settings = load_settings({"LOOKOUT_PARTITIONS": "1", "LOOKOUT_APP_ID": "bench-patterns"})
    lk = create_app(settings, "kafka://127.0.0.1:1")
    out = RecordingOutput()
    lk.store.out = out
    lk.store._recovered()
    if not assignments:
        lk.store.assigned = _NoAssignments()
    topic = lk.topics.logs_app if kind == "app" else lk.topics.logs_nginx
    batch = messages(topic, kind, count)
    started = time.process_time()
    for n in range(0, count, BATCH):
        await lk.pipeline.process(batch[n : n + BATCH])
    return (time.process_time() - started) / count, out.patterns


def sink_round(records: list[Any], topic: str, count: int) -> float:
    """CPU seconds per line to decode the records and release every message in the join."""
    join = PatternJoin(wait=30)
    started = time.process_time()
    for n in range(0, count, BATCH):
        for offset in range(n, min(n + BATCH, count)):
            join.hold(topic, 0, offset, 0, 0.0)
        join.seeks()
        for partition, _key, value, _ts in records[n // BATCH : n // BATCH + 1]:
            join.add(decode(partition, value))
        if len(join.release(0.0)) != min(BATCH, count - n):
            raise AssertionError("a message was not resolved")
    return (time.process_time() - started) / count


def log_round(count: int) -> float:
    """Seconds per mined line of the assignment log alone: cover, note the line, encode."""
    log = AssignmentLog()
    pids = [f"{n % 7:016x}" for n in range(count)]
    started = time.perf_counter()
    for n in range(0, count, BATCH):
        for offset in range(n, min(n + BATCH, count)):
            lines = log.cover("logs.app", 0, offset, offset)
            lines += (offset, 0, pids[offset])
        log.take()
    return (time.perf_counter() - started) / count


async def main(lines: int, rounds: int) -> None:
    """Print the timings."""
    _ = Pipeline  # the code timed
    alone = min(log_round(lines) for _ in range(rounds))
    print(f"assignment log alone: {alone * 1e6:.2f} us/mined line (cover, note, encode)")
    for kind, topic in (("app", "logs.app"), ("nginx access", "logs.nginx")):
        best: dict[bool, float] = {}
        records: list[Any] = []
        for _ in range(rounds):
            for on in (True, False):
                took, sent = await worker_round(kind.split()[0], lines, on)
                best[on] = min(best.get(on, took), took)
                if on:
                    records = sent
        size = sum(len(v) for _p, _k, v, _t in records)
        print(
            f"{kind}: worker {best[False] * 1e6:.1f} us/line without, "
            f"{best[True] * 1e6:.1f} us/line with assignments "
            f"(+{(best[True] - best[False]) * 1e6:.2f} us, "
            f"{best[True] / best[False] - 1:+.1%}); "
            f"{size / lines:.1f} bytes/line on lookout.patterns"
        )
        sink = min(sink_round(records, topic, lines) for _ in range(rounds))
        print(f"{kind}: sink join {sink * 1e6:.2f} us/line (decode + hold + release)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.lines, args.rounds))
