"""``lookout bench`` command line: options, their help, and the validated options object."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from devtools.bench.result import DEFAULT_DRAINS, DRAINS
from devtools.bench.workloads import WORKLOADS

DEFAULT_COUNT = 300_000
DEFAULT_TIMEOUT = 900.0
DEFAULT_REPEAT = 3
NAIVE_LIMIT = 600.0
RSS_LIMIT = 400.0

EPILOG = f"""\
workloads (1,000 hosts; event times end just before now, so windows close during the run):
  w1   Telegraf `json` serializer, one metric per Kafka message, keyed by host; 10 series per host
       of one field each, 10-s interval
  w2   Telegraf batch format {{"metrics": [...]}}: 100 metrics per message, one host per message
       (its 10 series x 10 consecutive intervals)
  w1f  Telegraf `json`, one metric per message with the fields Telegraf's inputs really emit:
       cpu-total (11), mem (10), disk (7), diskio (11), net (8), system (6), processes (11);
       7 metrics and 64 fields per host and interval; rates in metrics/s and fields/s
  w3   raw nginx access lines (combined + $request_time $upstream_response_time), one line per
       message, keyed by host; 20 services, one line per host and second; rates in lines/s
N counts records: metrics (w1, w2, w1f, rounded up to whole intervals) or lines (w3).
Each workload is produced once (aiokafka, 8 partitions, own topic prefix bench-RUN-WORKLOAD.,
Kafka timestamp = event time) and then drained from the start by each drainer, each in its own
consumer group:
  raw      (a)  plain aiokafka consumer: getmany + orjson.loads (w3: split lines) + count per
                host (the ceiling)
  bare     (a') a Faust agent that only iterates and decodes (subprocess devtools.bench.faust_bare)
  naive    (b)  the naive Faust pattern: one 60-s tumbling table keyed host|series,
                `table[key] += 1` per field (devtools.bench.faust_naive); not on w3; after w1,
                skipped when the w1 naive rate says it would take over {NAIVE_LIMIT / 60:.0f} min
  lookout  (c)  a real `lookout worker` subprocess on the workload's topics (LOOKOUT_SINKS=none);
                rate from its first processed record to records_in == N (polling /api/health;
                a record counts once its batch is flushed); also its peak RSS (VmHWM). Run
                --repeat times (fresh worker and consumer group each): the median run and
                every run's rate. With --sinks, again with LOOKOUT_SINKS=all (c+)
  quix     (d)  Quix Streams tumbling count per host key (`tumbling_window(60_000).count()
                .current()`), when `import quixstreams` works (pip install -e '.[bench]');
                run --repeat times too (own consumer group each): the median run
Rates are records/s from each drainer's first record to its last. Then the latency run: a
fresh worker gets W2-shaped messages stamped "now" at 200 messages/s (20,000 metrics/s) for
20 s after a 3-s warm-up; every 25th message carries a marker polled for in
GET /api/hosts/HOST/windows?kind=tumbling; p50/p99 of produce-to-visible seconds.

targets (one run, sinks off): W1 (c) >= 2x (d); W1f (c) >= 2x (d) in metrics/s; W3 (c) >= 2x
(d) and >= 10,000 lines/s; W2 (c) >= 3x (d) and >= 0.15x (a); peak RSS of the W2 worker
(10,000 series) < {RSS_LIMIT:.0f} MB; p99 produce-to-visible at 20,000 metrics/s < 1 s.

output: a progress line per phase on stderr, then on stdout the table of records/s per
drainer and workload, the targets with PASS/MISS, and last one line of JSON (w1_raw_eps, ...,
w2_lookout_eps, w1f_lookout_mps, w1f_lookout_fps, w3_lookout_lps, ..., *_runs, peak_rss_mb,
p50_visible_s, p99_visible_s, n, machine, date, commit, core, targets). Exit status 0 when every
phase ran (targets missed or not), 1 when a phase failed, 2 for bad options.

broker: LOOKOUT_BROKER_URL when set (the run's topics are deleted at the end), else an
embedded Tansu broker started for the run and stopped at its end (with --sinks, also the
embedded Postgres (migrated) and osmem, unless LOOKOUT_POSTGRES_DSN / LOOKOUT_ELASTICSEARCH_URL
are set). Every subprocess and the stack are stopped at the end, on errors and on Ctrl-C. Logs
of every subprocess: LOOKOUT_STACK_DIR/bench/RUN/logs (default .lookout/). The embedded broker
keeps every message in memory: about 0.6 GB per 300,000 metrics of w1.
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
    repeat: int = DEFAULT_REPEAT
    sinks: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bench options (and the long help) to ``parser``."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"records (metrics or lines) per workload (default {DEFAULT_COUNT:,}); rounded "
        "up to whole intervals (w1, w2: 10,000 metrics; w1f: 7,000; w3: 1,000 lines)",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        metavar="LIST",
        help=f"comma-separated workloads to run: {','.join(WORKLOADS)} (default all)",
    )
    parser.add_argument(
        "--drains",
        default=",".join(DEFAULT_DRAINS),
        metavar="LIST",
        help=f"comma-separated drainers: {','.join(DRAINS)} (default all but lookout_nopat)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        metavar="K",
        help=f"run the Lookout worker and the Quix drain K times per workload and report "
        f"each one's median run and the spread (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--sinks",
        action="store_true",
        help="also run the Lookout worker with its Postgres and Elasticsearch sinks on "
        "(LOOKOUT_SINKS=all, the production default; starts the embedded Postgres and osmem)",
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
    if ns.repeat < 1:
        raise ValueError("--repeat: must be at least 1")
    return Options(
        count=ns.count,
        workloads=_pick(ns.workloads, WORKLOADS, "workloads"),
        drains=_pick(ns.drains, DRAINS, "drains"),
        skip_latency=ns.skip_latency,
        skip_sinks=ns.skip_sinks,
        json_only=ns.json_only,
        timeout=ns.timeout,
        profile=ns.profile,
        repeat=ns.repeat,
        sinks=ns.sinks,
    )
