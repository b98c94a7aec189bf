"""Command-line options of `lookout simulate`; standalone entry `python -m devtools.simulator`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from app.services import bootstrap_servers
from devtools.simulator.options import FORMATS, OptionsError, SimOptions
from devtools.simulator.scenarios import parse_seconds

DESCRIPTION = """\
Send Telegraf-format traffic from a simulated fleet to Kafka, with incident scenarios.

Each host sends its cpu, mem, disk, diskio, net and system metrics every --interval seconds
to telegraf.metrics, its nginx access and error logs (Telegraf tail + grok) to logs.nginx,
and application JSON logs to logs.app; every message is keyed by host. Without --count or
--duration the run is live and paced to the wall clock (--speed to go faster); with one of them
it sends as fast as it can. Ctrl-C stops it cleanly with a summary.
"""

EPILOG = """\
scenarios (for --timeline):
  steady          nothing unusual
  error_spike     svc=NAME|INDEX: a share of 5xx (share=0.4) and slower responses
                  (latency=6 times), with nginx "upstream timed out" and "connect() failed
                  (111: Connection refused)" error lines and application error logs
  cpu_saturation  host=NAME|INDEX: cpu-total usage_active around usage=97 percent
  host_silent     host=NAME|INDEX: the host sends nothing, then comes back
  counter_reset   host=NAME|INDEX: the host reboots; diskio and net counters restart from 0

timeline spec: comma-separated kind@start+duration[:key=value...], times in seconds after the
start (or 90s, 2m, 1h); every=SECONDS repeats it. Example:
  --timeline 'error_spike@120+180:svc=shop,cpu_saturation@3m+220:host=host-001,every=600'
default: error_spike svc 0 at 120-300 s, cpu_saturation host 1 at 180-400 s, host_silent
host 2 at 240-420 s, repeating every 600 s.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    g = parser.add_argument_group("fleet")
    g.add_argument(
        "--hosts",
        type=int,
        default=10,
        metavar="N",
        help="simulated hosts, named host-000, host-001, ... (default: 10)",
    )
    g.add_argument(
        "--services",
        type=int,
        default=3,
        metavar="M",
        help="web services (shop, api, auth, search, payments, ...); host h serves "
        "service h %% M (default: 3)",
    )
    g.add_argument(
        "--rate",
        type=float,
        default=20.0,
        metavar="R",
        help="nginx requests per second per service, split across its hosts (default: 20)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed; the same seed and --start give the same bytes (default: 42)",
    )
    g = parser.add_argument_group("format")
    g.add_argument(
        "--interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Telegraf collection interval, whole seconds (default: 10)",
    )
    g.add_argument(
        "--format",
        choices=FORMATS,
        default="batch",
        help="Telegraf output format: batch = JSON with use_batch_format, one "
        "message per host and interval; json = one metric per message; "
        "influx = line protocol, one message per host and interval (nginx logs then "
        "go as batch JSON) (default: batch)",
    )
    g.add_argument(
        "--raw-logs",
        action="store_true",
        help="send raw nginx lines, one per message, instead of Telegraf tail metrics: "
        "access lines in combined format + $request_time $upstream_response_time, "
        "error lines as nginx writes them",
    )
    g.add_argument(
        "--no-app-logs",
        dest="app_logs",
        action="store_false",
        help="do not send application JSON logs to logs.app",
    )
    g = parser.add_argument_group("timing")
    g.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="live mode: event time runs X times as fast as the wall clock (default: 1)",
    )
    g.add_argument(
        "--count",
        type=int,
        default=None,
        metavar="N",
        help="fast mode: send N messages as fast as possible, then stop",
    )
    g.add_argument(
        "--duration",
        default=None,
        metavar="SECONDS",
        help="fast mode: send this much event time (e.g. 600, 10m, 1h) as fast as "
        "possible, then stop",
    )
    g.add_argument(
        "--start",
        default=None,
        metavar="ISO",
        help="event time of the start, e.g. 2024-01-01T00:00:00Z (default: now); "
        "aligned down to a multiple of --interval",
    )
    g.add_argument(
        "--timeline",
        default="default",
        metavar="SPEC",
        help="incident scenarios: 'default', 'steady', or a spec such as "
        "'error_spike@120+180:svc=shop' (see below)",
    )


def options_from_args(ns: argparse.Namespace) -> SimOptions:
    """Build checked :class:`SimOptions` from parsed arguments; errors name the flag."""
    try:
        duration = parse_seconds(ns.duration, "--duration") if ns.duration is not None else None
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    start = _parse_start(ns.start) if ns.start is not None else None
    opts = SimOptions(
        hosts=ns.hosts,
        services=ns.services,
        interval=ns.interval,
        format=ns.format,
        rate=ns.rate,
        seed=ns.seed,
        speed=ns.speed,
        duration=duration,
        count=ns.count,
        start=start,
        timeline=ns.timeline,
        app_logs=ns.app_logs,
        raw_logs=ns.raw_logs,
    )
    opts.check()
    return opts


def stderr_progress(stream: TextIO | None = None) -> Callable[[str], None]:
    """A progress callback for :func:`devtools.simulator.runner.run` that writes to ``stream``."""
    out = stream or sys.stderr

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    return write


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (``python -m devtools.simulator``)."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=None,
        metavar="HOST:PORT",
        help="Kafka to send to (default: LOOKOUT_BROKER_URL)",
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator against ``--bootstrap-servers`` or ``LOOKOUT_BROKER_URL``."""
    from app.settings import ConfigError, load_settings
    from devtools.simulator.runner import SimulatorError, run

    ns = build_parser().parse_args(argv)
    try:
        opts = options_from_args(ns)
        settings = load_settings()
    except (OptionsError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bootstrap = ns.bootstrap_servers or settings.broker_url
    if not bootstrap:
        print(
            "error: no broker: pass --bootstrap-servers HOST:PORT or set LOOKOUT_BROKER_URL "
            "(`lookout simulate` starts the embedded one)",
            file=sys.stderr,
        )
        return 2
    servers = bootstrap_servers(bootstrap)
    try:
        asyncio.run(run(settings, opts, servers, progress=stderr_progress()))
    except SimulatorError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise OptionsError(
            f"--start {text!r} is not an ISO 8601 time; e.g. 2024-01-01T00:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
