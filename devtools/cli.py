"""Developer commands of ``lookout`` (``run``, ``stack``, ``simulate``, ``bench``, ``seed-demo``).

They reach the ``lookout`` command through the ``lookout.commands`` entry-point group
(pyproject.toml), so the production CLI (app/cli.py) never imports developer tooling.
"""

from __future__ import annotations

import asyncio
import sys

from app.cli import create_topics, parser
from app.settings import Settings


def stack(settings: Settings, args: list[str]) -> int:
    """embedded local stack: `lookout stack up|down|status`"""
    p = parser(
        "stack",
        "Manage the embedded local stack (Tansu broker, PostgreSQL, osmem-server).\n"
        "Parts whose LOOKOUT_*_URL / DSN is set are not started: the real service is used.\n"
        "Data and logs live under LOOKOUT_STACK_DIR (default .lookout/).",
    )
    p.add_argument("action", choices=["up", "down", "status"], help="what to do")
    ns = p.parse_args(args)
    from devtools.stack import LocalStack

    stack = LocalStack(settings, detached=True)
    if ns.action == "up":
        services = stack.up()
        asyncio.run(create_topics(settings, services.bootstrap_servers))
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


def simulate(settings: Settings, args: list[str]) -> int:
    """send Telegraf-format metrics and nginx/app logs with incident scenarios"""
    from app.services import resolve_bootstrap
    from devtools.simulator.cli import DESCRIPTION, EPILOG, add_arguments, options_from_args
    from devtools.simulator.options import OptionsError
    from devtools.simulator.runner import SimulatorError, run

    p = parser("simulate", DESCRIPTION)
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


def seed_demo(settings: Settings, args: list[str]) -> int:
    """fill the business tables with demo data that joins to the simulated hosts"""
    p = parser(
        "seed-demo",
        "Fill the business tables (teams, servers, applications, costs, ...) with demo data\n"
        "that joins to the simulator's hosts and services. Safe to run again.",
    )
    p.add_argument("--hosts", type=int, default=10, help="simulated hosts (default 10)")
    p.add_argument("--services", type=int, default=3, help="simulated services (default 3)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ns = p.parse_args(args)
    from app.services import resolve_services
    from devtools.demo_data import seed_demo_command

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


def run(settings: Settings, args: list[str]) -> int:
    """start everything locally: stack, migrations, a worker and the simulator"""
    from devtools.devrun import add_arguments, dev_run

    p = parser(
        "run",
        "Start everything on this machine: the embedded stack (or the services named by\n"
        "LOOKOUT_* variables), migrations, one worker and the traffic simulator.\n"
        "Prints the live page URL and API examples. Ctrl-C stops all of it.",
    )
    add_arguments(p)
    return dev_run(settings, p.parse_args(args))


def bench(settings: Settings, args: list[str]) -> int:
    """benchmark the pipeline against its baselines (docs/BENCHMARKS.md)"""
    from devtools.bench import add_arguments, bench

    p = parser(
        "bench",
        "Benchmark: W1 (one metric per message) and W2 (Telegraf batch format) drained by\n"
        "a plain aiokafka consumer, a bare Faust agent, the naive Faust table pattern and\n"
        "Lookout's pipeline, on the same broker. Prints figures, ratios and a JSON line.",
    )
    add_arguments(p)
    return bench(settings, p.parse_args(args))
