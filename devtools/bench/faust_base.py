"""What the benchmark's own Faust apps share: their command line and the app's settings.

Run as ``python -m devtools.bench.faust_bare|faust_naive --broker URL --topic T --app-id ID
--target N --tally FILE --data-dir DIR [worker options]``: the options before Faust's own are
ours, the rest go to Faust (``worker -l warning`` if none are given). The consumer settings
mirror Lookout's worker (app/worker.py) so the figures compare the processing, not tuning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faust

from devtools.bench.tally import Tally


def parse(prog: str, argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and Faust's command line (the rest)."""
    p = argparse.ArgumentParser(prog=prog, description="A benchmark drain (Faust app).")
    p.add_argument("--broker", required=True, help="kafka://host:port")
    p.add_argument("--topic", required=True, help="the workload topic to drain")
    p.add_argument("--app-id", required=True, help="Faust app id (consumer group)")
    p.add_argument("--target", type=int, required=True, help="metrics to count before done")
    p.add_argument("--tally", type=Path, required=True, help="progress file to write")
    p.add_argument("--data-dir", type=Path, required=True, help="Faust data dir")
    p.add_argument("--partitions", type=int, default=8, help="partitions of the topic")
    p.add_argument("--expires", type=float, default=3600.0, help="window expiry, seconds")
    ns, rest = p.parse_known_args(argv)
    return ns, rest or ["worker", "-l", "info"]


def make_app(ns: argparse.Namespace) -> faust.App:
    """A Faust app with Lookout's consumer settings, no web server."""
    return faust.App(
        ns.app_id,
        broker=ns.broker,
        store="memory://",
        autodiscover=False,
        topic_partitions=ns.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        datadir=str(ns.data_dir),
        key_serializer="raw",
        value_serializer="raw",
        producer_linger_ms=5,
        producer_max_batch_size=1_048_576,
        stream_buffer_maxsize=65536,
        broker_commit_every=100_000,
        broker_commit_interval=1.0,
        logging_config=None,
    )


def source(app: faust.App, ns: argparse.Namespace) -> Any:
    """The workload topic (raw bytes)."""
    return app.topic(
        ns.topic, key_serializer="raw", value_serializer="raw", partitions=ns.partitions
    )


def run(prog: str, build: Callable[[faust.App, argparse.Namespace, Tally], None]) -> None:
    """Parse the command line, build the app's agents with ``build`` and run Faust."""
    ns, faust_args = parse(prog, sys.argv[1:])
    app = make_app(ns)
    tally = Tally(ns.tally, ns.target)
    build(app, ns, tally)
    sys.argv = [prog, *faust_args]
    app.main()
