"""``lookout bench`` command line: options, their help, and the validated options object."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from devtools.bench.result import DRAINS
from devtools.bench.workloads import WORKLOADS

DEFAULT_COUNT = 1_000_000
DEFAULT_TIMEOUT = 900.0
NAIVE_W2_LIMIT = 600.0

EPILOG = f"""\
workloads (Telegraf-format metrics of 1,000 hosts x 10 series, 10-s interval; event times
start about count/10,000 x 10 s before now, so windows close during the run):
  w1  one metric per Kafka message (Telegraf `json` serializer), keyed by host
  w2  Telegraf batch format {{"metrics": [...]}}: 100 metrics per message, one host per message
      (its 10 series x 10 consecutive intervals)
Each workload is produced once (aiokafka, 8 partitions, own topic prefix bench-RUN-w1. /
bench-RUN-w2., Kafka timestamp = event time) and then drained from the start by each drainer,
each in its own consumer group:
  raw      (a)  plain aiokafka consumer: getmany + orjson.loads + count per host (the ceiling)
  bare     (a') a Faust agent that only iterates and decodes (subprocess devtools.bench.faust_bare)
  naive    (b)  the naive Faust pattern: one 60-s tumbling table keyed host|series,
                `table[key] += 1` per metric (devtools.bench.faust_naive); for w2 it is skipped
                when the w1 naive rate says it would take more than {NAIVE_W2_LIMIT / 60:.0f} min
  lookout  (c)  a real `lookout worker` subprocess on the workload's topics (LOOKOUT_SINKS=none);
                rate from its first processed record to lookout_records_in_total == N
                (polling /api/health); also its peak RSS (VmHWM)
  quix     (d)  Quix Streams tumbling count per host (`tumbling_window(60_000).count()
                .current()`), when `import quixstreams` works (pip install -e '.[bench]')
Rates are metrics/s from each drainer's first record to its last. Then the latency run: a
fresh worker gets W2-shaped messages stamped "now" at 200 messages/s (20,000 metrics/s) for
20 s after a 3-s warm-up; every 25th message carries a marker polled for in
GET /api/hosts/HOST/windows?kind=tumbling; p50/p99 of produce-to-visible seconds.

targets (2-core machine): W1 (c) >= 0.8x (a') and >= 3x (b); W2 (c) >= 100,000 metrics/s,
>= 0.25x (a) and > (d); peak RSS of the W2 worker (10,000 series) < 500 MB; p99
produce-to-visible < 2 s.

output: a progress line per phase on stderr, then on stdout the table of metrics/s per
drainer and workload, the targets with PASS/MISS, and last one line of JSON (w1_raw_eps,
w1_faust_bare_eps, w1_naive_eps, w1_lookout_eps, w2_..., peak_rss_mb, p50_visible_s,
p99_visible_s, n, machine, date, commit, targets). Exit status 0 when every phase ran (targets
missed or not), 1 when a phase failed, 2 for bad options.

broker: LOOKOUT_BROKER_URL when set (the run's topics are deleted at the end), else an
embedded Tansu broker started for the run and stopped at its end. Every subprocess and the
broker are stopped at the end, on errors and on Ctrl-C. Logs of every subprocess:
LOOKOUT_STACK_DIR/bench/RUN/logs (default .lookout/). The embedded broker keeps every message
in memory: about 0.6 GB at --count 300000.
"""


@dataclass(frozen=True, slots=True)
class Options:
    """Validated ``lookout bench`` options."""

    count: int
    workloads: tuple[str, ...]
    drains: tuple[str, ...]
    skip_latency: bool
    skip_sinks: bool
    json_only: bool
    timeout: float
    profile: Path | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bench options (and the long help) to ``parser``."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"metrics per workload (default {DEFAULT_COUNT:,}); rounded up to whole "
        "intervals of 10,000 metrics",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        metavar="LIST",
        help="comma-separated workloads to run: w1,w2 (default both)",
    )
    parser.add_argument(
        "--drains",
        default=",".join(DRAINS),
        metavar="LIST",
        help=f"comma-separated drainers: {','.join(DRAINS)} (default all)",
    )
    parser.add_argument(
        "--skip-latency", action="store_true", help="skip the produce-to-visible latency run"
    )
    parser.add_argument(
        "--skip-sinks",
        action="store_true",
        help="skip the sink figures (Postgres rows/s and Elasticsearch docs/s against a bare "
        "COPY and a bare _bulk; they start the embedded Postgres and osmem)",
    )
    parser.add_argument(
        "--json-only",
        action="store_true",
        help="print only the JSON line (no progress, no table)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"stop a drainer after S seconds and report its partial rate "
        f"(default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record a py-spy profile of each Lookout worker run into DIR (collapsed stacks) "
        "and print its top functions (needs py-spy: .venv/bin/pip install py-spy)",
    )


def _pick(raw: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(f"--{what}: expected a comma-separated subset of {','.join(allowed)}")
    return tuple(n for n in allowed if n in names)


def options_from_args(ns: argparse.Namespace) -> Options:
    """Validate the parsed arguments; ``ValueError`` names the option and the fix."""
    if ns.count < 1:
        raise ValueError("--count: must be at least 1")
    if ns.timeout <= 0:
        raise ValueError("--timeout: must be positive")
    return Options(
        count=ns.count,
        workloads=_pick(ns.workloads, WORKLOADS, "workloads"),
        drains=_pick(ns.drains, DRAINS, "drains"),
        skip_latency=ns.skip_latency,
        skip_sinks=ns.skip_sinks,
        json_only=ns.json_only,
        timeout=ns.timeout,
        profile=ns.profile,
    )
