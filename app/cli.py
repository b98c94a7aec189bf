"""The ``lookout`` command: Lookout's own commands plus Faust's (``worker`` and friends)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from alerting.config import RuleError
from app.cli_identity import keys_command, tenants_command, users_command
from app.services import ServiceError
from app.settings import ConfigError, Settings, load_settings
from app.topics import TopicError
from sinks.migrations import MigrationError

HELP = """\
usage: lookout COMMAND [options]

Lookout: a monitoring hub on Kafka. Configuration comes from LOOKOUT_* environment variables
(see README: Configuration); unset service URLs mean "use the embedded local stack".

Lookout commands:
  topics       create Lookout's topics with LOOKOUT_PARTITIONS partitions
  migrate      apply PostgreSQL migrations (infra/migrations)
  sinks        run only the PostgreSQL / Elasticsearch sinks (LOOKOUT_SINKS picks which)
  notify       notifications: `lookout notify test RECEIVER` sends a test message
  settings     print every setting with its current value (secrets masked)
  users        users who sign in: add, disable, enable, passwd, grant, list (docs/AUTH.md)
  tenants      tenants (teams): add, list
  keys         ingest keys of a tenant: create, revoke, list
{plugins}
Faust commands (run a worker):
  worker       start a Faust worker: `lookout worker -l info [--web-port 6067]`
  agents, tables, model, models, send, reset   Faust's own tools

`lookout COMMAND --help` explains each command.
"""

#: Entry-point group through which other distributions (and this project's developer tooling,
#: ``devtools``) add commands: ``name = "module:function"``, the function taking
#: ``(settings, args)`` and returning an exit code. Production code never imports them.
PLUGIN_GROUP = "lookout.commands"

Command = Callable[[Settings, list[str]], "int | None"]


def plugin_commands() -> dict[str, Command]:
    """Commands registered under :data:`PLUGIN_GROUP` (developer tooling when installed)."""
    found: dict[str, Command] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        found[ep.name] = ep.load()
    return found


def _help() -> str:
    plugins = plugin_commands()
    if not plugins:
        return HELP.format(plugins="")
    lines = ["", "Developer tooling (devtools):"]
    for name, fn in sorted(plugins.items()):
        doc = (fn.__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<12} {doc[0] if doc else ''}")
    return HELP.format(plugins="\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lookout`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_help())
        return
    try:
        settings = load_settings()
        command = args[0]
        ours: dict[str, Command] = {
            "topics": _cmd_topics,
            "migrate": _cmd_migrate,
            "sinks": _cmd_sinks,
            "notify": _cmd_notify,
            "settings": _cmd_settings,
            "users": users_command,
            "tenants": tenants_command,
            "keys": keys_command,
        }
        if command not in ours and command not in FAUST_COMMANDS:
            ours.update(plugin_commands())
        if command in ours:
            code = ours[command](settings, args[1:])
            raise SystemExit(code or 0)
        _faust(settings, args)
    except ConfigError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except (ServiceError, TopicError, MigrationError, RuleError) as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


FAUST_COMMANDS = ("worker", "agents", "tables", "model", "models", "send", "reset")


def _faust(settings: Settings, args: list[str]) -> None:
    from app.services import resolve_services
    from app.topics import ensure_topics
    from app.worker import create_app

    services = resolve_services(settings)
    if args[0] == "worker":
        asyncio.run(ensure_topics(settings, services.bootstrap_servers))
        if not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in args):
            # Faust spells it "warn"; at warn/error its start-up spinner also sets the root
            # logger to DEBUG (about 5% of the worker's time), so info is the default.
            args = [*args, "-l", {"warning": "warn"}.get(settings.log_level, settings.log_level)]
    lk = create_app(
        settings,
        services.broker_url,
        services.postgres_dsn,
        elasticsearch_url=services.elasticsearch_url,
        embedded_es=services.embedded_es,
    )
    if args[0] == "worker":
        from sinks.service import attach

        lk.sinks = attach(lk.app, settings, services, lk.stats)  # LOOKOUT_SINKS picks which
        from agents.notifier import attach as attach_notify

        attach_notify(lk.app, settings, services, lk.stats)  # LOOKOUT_NOTIFY_FILE (or off)
    if args[0] == "worker":
        from app.worker import tune_gc

        tune_gc()
    sys.argv = ["lookout", *args]
    lk.app.main()


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser for ``lookout PROG`` that keeps the description's line breaks."""
    return argparse.ArgumentParser(
        prog=f"lookout {prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _cmd_settings(settings: Settings, args: list[str]) -> int:
    parser("settings", "Print every setting and its value (secrets masked).").parse_args(args)
    for name, value in settings.model_dump().items():
        print(f"LOOKOUT_{name.upper()}={value}")
    return 0


async def create_topics(settings: Settings, bootstrap: str) -> None:
    """Create Lookout's topics, printing what is done."""
    from app.topics import ensure_topics

    await ensure_topics(settings, bootstrap, log=print)


def _cmd_topics(settings: Settings, args: list[str]) -> int:
    parser(
        "topics", "Create Lookout's topics (LOOKOUT_PARTITIONS partitions, prefix applied)."
    ).parse_args(args)
    from app.services import resolve_services

    services = resolve_services(settings)
    asyncio.run(create_topics(settings, services.bootstrap_servers))
    return 0


def _cmd_migrate(settings: Settings, args: list[str]) -> int:
    parser(
        "migrate",
        "Apply pending SQL migrations from infra/migrations to LOOKOUT_POSTGRES_DSN\n"
        "(or the embedded cluster). Safe to run again: applied versions are skipped.",
    ).parse_args(args)
    from app.services import resolve_services
    from sinks.migrations import MigrationError, migrate

    services = resolve_services(settings)
    try:
        asyncio.run(migrate(services.postgres_dsn))
    except MigrationError as exc:
        print(f"lookout migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_sinks(settings: Settings, args: list[str]) -> int:
    parser(
        "sinks",
        "Run the sinks without a worker: each sink is its own consumer group that writes\n"
        "raw data and window results to PostgreSQL and logs to Elasticsearch, committing\n"
        "offsets only after the store has the data. LOOKOUT_SINKS picks which.",
    ).parse_args(args)
    from app.services import resolve_services
    from sinks.service import run_sinks

    asyncio.run(run_sinks(settings, resolve_services(settings)))
    return 0


def _cmd_notify(settings: Settings, args: list[str]) -> int:
    from pathlib import Path

    p = parser(
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


if __name__ == "__main__":
    main()
