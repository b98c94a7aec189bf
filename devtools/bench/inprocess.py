"""The worker's own cost per record, in process: no broker, no network, no other process.

``python -m devtools.bench.inprocess --workload w1f`` feeds a workload's messages (the same as
``lookout bench``'s; w1, w1f, w3 or w3a, one record a message) to a broker-less worker
(:func:`devtools.bench.memory.memory_worker`: the real pipeline, engine, alerting and flush,
writes recorded in memory) and prints the CPU time per record of each round. It measures what
``lookout bench`` cannot separate: the worker's code apart from aiokafka, the broker and the
other drains sharing the machine.

``--icount`` runs the same under valgrind (cachegrind, no cache simulation) at ``--count`` and
twice ``--count`` records, each also with ``--generate-only``, and prints the *instructions*
per record between the two: (process 2N - generate 2N) - (process N - generate N), divided by
N. CPU time on the shared 2-vCPU machines this project is measured on moves by a third between
two runs of the same code; instruction counts repeat to a few tenths of a percent, so they are
what tells two versions of the hot path apart (docs/BENCHMARKS.md, "Instruction counts").
Needs valgrind (``apt install valgrind``); takes a few minutes.

Event times are fixed (they start at an hour boundary a day before the run), so two runs see
the same windows; each round uses a fresh worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from devtools.bench import catalog
from devtools.bench.workloads import W1, W1F, W3, W3A, Message

#: The workloads with one record per message (W2's messages hold 100 metrics each).
WORKLOADS = (W1, W1F, W3, W3A)


def messages(workload: str, count: int) -> list[Message]:
    """The first ``count`` messages of a workload, event times from a fixed hour."""
    start = (int(time.time()) // 3600 - 24) * 3600
    return list(islice(catalog.messages(workload, count, start), count))


async def _round(workload: str, msgs: list[Message], batch: int, env: dict[str, str]) -> float:
    from app.worker import tune_gc
    from devtools.bench.memory import memory_worker

    lk, _out, source, fetcher = memory_worker({"LOOKOUT_APP_ID": "inprocess", **env}, batch)
    tune_gc()
    lk.store._recovered()
    topic = lk.settings.topic(catalog.SHAPES[workload].topic)
    for m in msgs:
        source.put(topic, m.value, m.key)
    started = time.process_time()
    while await fetcher.fetch_once():
        pass
    return (time.process_time() - started) / len(msgs) * 1e6


def run(workload: str, count: int, batch: int, rounds: int, env: dict[str, str]) -> list[float]:
    """CPU microseconds per record of each round."""
    msgs = messages(workload, count)
    return [asyncio.run(_round(workload, msgs, batch, env)) for _ in range(rounds)]


def _instructions(args: list[str]) -> int:
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "devtools.bench.inprocess",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def icount(workload: str, count: int, batch: int, env_args: list[str]) -> float:
    """Instructions per record between ``count`` and ``2 * count`` records (see the module
    docstring), the four valgrind runs two at a time."""
    base = ["--workload", workload, "--batch", str(batch), "--rounds", "1", *env_args]
    runs = {
        (n, gen): base + ["--count", str(n)] + (["--generate-only"] if gen else [])
        for n in (count, 2 * count)
        for gen in (False, True)
    }
    print(f"icount {workload}: 4 valgrind runs ({count:,} and {2 * count:,} records)...",
          file=sys.stderr, flush=True)  # fmt: skip
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = dict(zip(runs, pool.map(_instructions, runs.values()), strict=True))
    work = (got[(2 * count, False)] - got[(2 * count, True)]) - (
        got[(count, False)] - got[(count, True)]
    )
    return work / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench.inprocess",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workload", choices=WORKLOADS, default=W1F)
    parser.add_argument("--count", type=int, default=42_000, help="records (default 42,000)")
    parser.add_argument(
        "--batch", type=int, default=20_000, help="max messages per batch (default 20,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="fresh workers, one after another")
    parser.add_argument("--rules", help="alert rules file or folder (default: rules/)")
    parser.add_argument("--patterns", choices=["true", "false"], default="false")
    parser.add_argument(
        "--icount",
        action="store_true",
        help="instructions per record under valgrind instead of CPU time (see above)",
    )
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    env = {"LOOKOUT_PATTERNS": args.patterns}
    env_args = ["--patterns", args.patterns]
    if args.rules:
        env["LOOKOUT_RULES"] = str(Path(args.rules).resolve())
        env_args += ["--rules", env["LOOKOUT_RULES"]]
    if args.generate_only:
        messages(args.workload, args.count)
        return 0
    if args.icount:
        if shutil.which("valgrind") is None:
            parser.error("--icount needs valgrind: apt install valgrind")
        per = icount(args.workload, args.count, args.batch, env_args)
        span = f"records {args.count:,} to {2 * args.count:,}, batches of {args.batch:,}"
        print(f"{args.workload}: {per:,.0f} instructions per record ({span})")
        return 0
    from app import native

    rounds = run(args.workload, args.count, args.batch, args.rounds, env)
    print(
        f"{args.workload}: {args.count:,} records, batches of {args.batch:,}, core {native.STATE}: "
        f"CPU us per record, min {min(rounds):.1f}, median {statistics.median(rounds):.1f} "
        f"(rounds: {', '.join(f'{r:.1f}' for r in rounds)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
