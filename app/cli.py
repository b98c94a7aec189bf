"""The ``lookout`` command: Lookout's own commands plus Faust's (``worker`` and friends)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.settings import ConfigError, Settings, load_settings

HELP = """\
usage: lookout COMMAND [options]

Lookout: a monitoring hub on Kafka. Configuration comes from LOOKOUT_* environment variables
(see README: Configuration); unset service URLs mean "use the embedded local stack".

Lookout commands:
  run          start everything locally: embedded stack, migrations, a worker and the
               traffic simulator; prints where to look. Ctrl-C stops all of it.
  stack        embedded local stack: `lookout stack up|down|status`
  topics       create Lookout's topics with LOOKOUT_PARTITIONS partitions
  migrate      apply PostgreSQL migrations (infra/migrations)
  simulate     send Telegraf-format metrics and nginx/app logs with incident scenarios
  bench        benchmark the pipeline against its baselines (see docs/BENCHMARKS.md)
  sinks        run only the PostgreSQL / Elasticsearch sinks (LOOKOUT_SINKS picks which)
  seed-demo    fill the business tables with demo data that joins to the simulated hosts
  notify       notifications: `lookout notify test RECEIVER` sends a test message
  settings     print every setting with its current value (secrets masked)

Faust commands (run a worker):
  worker       start a Faust worker: `lookout worker -l info [--web-port 6067]`
  agents, tables, model, models, send, reset   Faust's own tools

`lookout COMMAND --help` explains each command.
"""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lookout`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(HELP)
        return
    try:
        settings = load_settings()
        command = args[0]
        ours = {
            "run": _cmd_run,
            "stack": _cmd_stack,
            "topics": _cmd_topics,
            "migrate": _cmd_migrate,
            "simulate": _cmd_simulate,
            "bench": _cmd_bench,
            "sinks": _cmd_sinks,
            "seed-demo": _cmd_seed_demo,
            "notify": _cmd_notify,
            "settings": _cmd_settings,
        }
        if command in ours:
            code = ours[command](settings, args[1:])
            raise SystemExit(code or 0)
        _faust(settings, args)
    except ConfigError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        from app.rules import RuleError
        from app.stack import StackError
        from app.topics import TopicError
        from sinks.migrations import MigrationError

        if isinstance(exc, (StackError, TopicError, MigrationError, RuleError)):
            print(f"lookout: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def _faust(settings: Settings, args: list[str]) -> None:
    from app.faust_app import create_app
    from app.stack import resolve_services
    from app.topics import ensure_topics

    services = resolve_services(settings)
    if args[0] == "worker":
        asyncio.run(ensure_topics(settings, services.bootstrap_servers))
        if not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in args):
            # Faust spells it "warn"; at warn/error its start-up spinner also sets the root
            # logger to DEBUG (about 5% of the worker's time), so info is the default.
            args = [*args, "-l", {"warning": "warn"}.get(settings.log_level, settings.log_level)]
    lk = create_app(settings, services.broker_url, services.postgres_dsn)
    if args[0] == "worker":
        from sinks.service import attach

        attach(lk.app, settings, services, lk.stats)  # LOOKOUT_SINKS picks which (or none)
        from sinks.notify.service import attach as attach_notify

        attach_notify(lk.app, settings, services, lk.stats)  # LOOKOUT_NOTIFY_FILE (or off)
    sys.argv = ["lookout", *args]
    lk.app.main()


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"lookout {prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _cmd_settings(settings: Settings, args: list[str]) -> int:
    _parser("settings", "Print every setting and its value (secrets masked).").parse_args(args)
    for name, value in settings.model_dump().items():
        print(f"LOOKOUT_{name.upper()}={value}")
    return 0


def _cmd_stack(settings: Settings, args: list[str]) -> int:
    p = _parser(
        "stack",
        "Manage the embedded local stack (Tansu broker, PostgreSQL, osmem-server).\n"
        "Parts whose LOOKOUT_*_URL / DSN is set are not started: the real service is used.\n"
        "Data and logs live under LOOKOUT_STACK_DIR (default .lookout/).",
    )
    p.add_argument("action", choices=["up", "down", "status"], help="what to do")
    ns = p.parse_args(args)
    from app.stack import LocalStack

    stack = LocalStack(settings, detached=True)
    if ns.action == "up":
        services = stack.up()
        asyncio.run(_topics(settings, services.bootstrap_servers))
        print(f"broker:        {services.broker_url}")
        print(f"postgres:      {services.postgres_dsn}")
        print(f"elasticsearch: {services.elasticsearch_url}")
        print("stop it with: lookout stack down")
    elif ns.action == "down":
        stack.down()
    else:
        for key, value in stack.status().items():
            print(f"{key}: {value}")
    return 0


async def _topics(settings: Settings, bootstrap: str) -> None:
    from app.topics import ensure_topics

    await ensure_topics(settings, bootstrap, log=print)


def _cmd_topics(settings: Settings, args: list[str]) -> int:
    _parser(
        "topics", "Create Lookout's topics (LOOKOUT_PARTITIONS partitions, prefix applied)."
    ).parse_args(args)
    from app.stack import resolve_services

    services = resolve_services(settings)
    asyncio.run(_topics(settings, services.bootstrap_servers))
    return 0


def _cmd_migrate(settings: Settings, args: list[str]) -> int:
    _parser(
        "migrate",
        "Apply pending SQL migrations from infra/migrations to LOOKOUT_POSTGRES_DSN\n"
        "(or the embedded cluster). Safe to run again: applied versions are skipped.",
    ).parse_args(args)
    from app.stack import resolve_services
    from sinks.migrations import MigrationError, migrate

    services = resolve_services(settings)
    try:
        asyncio.run(migrate(services.postgres_dsn))
    except MigrationError as exc:
        print(f"lookout migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_simulate(settings: Settings, args: list[str]) -> int:
    from app.simulator.cli import DESCRIPTION, EPILOG, add_arguments, options_from_args
    from app.simulator.options import OptionsError
    from app.simulator.runner import SimulatorError, run
    from app.stack import resolve_bootstrap

    p = _parser("simulate", DESCRIPTION)
    p.epilog = EPILOG
    add_arguments(p)
    try:
        opts = options_from_args(p.parse_args(args))
        bootstrap = resolve_bootstrap(settings)

        def progress(line: str) -> None:
            print(line, end="", file=sys.stderr, flush=True)

        asyncio.run(run(settings, opts, bootstrap, progress=progress))
    except (OptionsError, SimulatorError) as exc:
        print(f"lookout simulate: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_sinks(settings: Settings, args: list[str]) -> int:
    _parser(
        "sinks",
        "Run the sinks without a worker: each sink is its own consumer group that writes\n"
        "raw data and window results to PostgreSQL and logs to Elasticsearch, committing\n"
        "offsets only after the store has the data. LOOKOUT_SINKS picks which.",
    ).parse_args(args)
    from app.stack import resolve_services
    from sinks.service import run_sinks

    asyncio.run(run_sinks(settings, resolve_services(settings)))
    return 0


def _cmd_seed_demo(settings: Settings, args: list[str]) -> int:
    p = _parser(
        "seed-demo",
        "Fill the business tables (teams, servers, applications, costs, ...) with demo data\n"
        "that joins to the simulator's hosts and services. Safe to run again.",
    )
    p.add_argument("--hosts", type=int, default=10, help="simulated hosts (default 10)")
    p.add_argument("--services", type=int, default=3, help="simulated services (default 3)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ns = p.parse_args(args)
    from app.stack import resolve_services
    from sinks.service import seed_demo_command

    counts = asyncio.run(
        seed_demo_command(
            settings,
            resolve_services(settings),
            hosts=ns.hosts,
            service_count=ns.services,
            seed=ns.seed,
        )
    )
    for table, rows in counts.items():
        print(f"{table}: {rows} rows")
    return 0


def _cmd_notify(settings: Settings, args: list[str]) -> int:
    from pathlib import Path

    p = _parser(
        "notify",
        "Notifications (Slack and email; receivers and routes in LOOKOUT_NOTIFY_FILE).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser(
        "test",
        help="send a test message to one receiver",
        description=(
            "Send a test message (kind: test) to RECEIVER now, straight from this process\n"
            "(no worker, no outbox), and print what the receiver answered. Exit code 0 when\n"
            "it was accepted (Slack 2xx, SMTP 250), 1 when not (the error names the cause),\n"
            "2 for a bad notify file or an unknown receiver. Secrets are never printed.\n\n"
            "  lookout notify test ops-slack\n"
            "  lookout notify test ops-email --file notify/notify.yaml\n"
            "  lookout notify test ops-slack --outbox   # let a running worker send it"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("receiver", metavar="RECEIVER", help="a receiver name from the notify file")
    test.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="the notify file (default: LOOKOUT_NOTIFY_FILE)",
    )
    test.add_argument(
        "--outbox",
        action="store_true",
        help="queue the message in the outbox (Postgres) for a running worker to send",
    )
    ns = p.parse_args(args)
    from sinks.notify.probe import notify_test_command

    return notify_test_command(settings, ns.receiver, file=ns.file, via_outbox=ns.outbox)


def _cmd_run(settings: Settings, args: list[str]) -> int:
    from app.devrun import add_arguments, dev_run

    p = _parser(
        "run",
        "Start everything on this machine: the embedded stack (or the services named by\n"
        "LOOKOUT_* variables), migrations, one worker and the traffic simulator.\n"
        "Prints the live page URL and API examples. Ctrl-C stops all of it.",
    )
    add_arguments(p)
    return dev_run(settings, p.parse_args(args))


def _cmd_bench(settings: Settings, args: list[str]) -> int:
    from app.bench import add_arguments, bench

    p = _parser(
        "bench",
        "Benchmark: W1 (one metric per message) and W2 (Telegraf batch format) drained by\n"
        "a plain aiokafka consumer, a bare Faust agent, the naive Faust table pattern and\n"
        "Lookout's pipeline, on the same broker. Prints figures, ratios and a JSON line.",
    )
    add_arguments(p)
    return bench(settings, p.parse_args(args))


if __name__ == "__main__":
    main()
