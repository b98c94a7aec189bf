"""Where the worker finds the broker, PostgreSQL and Elasticsearch: the one place that maps
settings to services.

A service whose ``LOOKOUT_*`` URL is set is used as given. An unset one is "the embedded local
stack": its address is read from the stack's state file (``stack.json`` in
``LOOKOUT_STACK_DIR``), which the developer tooling (``lookout stack up``, ``lookout run``)
writes. This module only reads that file; it never starts anything, so production code has no
dependency on the tooling that does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings

STORE, BROKER, POSTGRES, OSMEM = "broker-store", "broker", "postgres", "osmem"
PARTS = (STORE, BROKER, POSTGRES, OSMEM)
STATE_FILE = "stack.json"
ENV_VAR = {
    STORE: "LOOKOUT_BROKER_URL",
    BROKER: "LOOKOUT_BROKER_URL",
    POSTGRES: "LOOKOUT_POSTGRES_DSN",
    OSMEM: "LOOKOUT_ELASTICSEARCH_URL",
}
MARKER = {
    STORE: b"devtools.stack.objstore",
    BROKER: b"tansu",
    POSTGRES: b"postgres",
    OSMEM: b"osmem-server",
}


def bootstrap_servers(broker_url: str) -> str:
    """A broker URL (``kafka://h:p[,kafka://h2:p2]``) as aiokafka wants it: ``h:p[,h2:p2]``."""
    hosts = (part.strip().removeprefix("kafka://") for part in broker_url.split(","))
    return ",".join(host for host in hosts if host)


@dataclass(frozen=True)
class Services:
    """Where the worker finds the broker, Postgres and Elasticsearch."""

    broker_url: str
    postgres_dsn: str = field(repr=False)
    elasticsearch_url: str
    embedded_es: bool

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL as aiokafka wants it: ``host:port[,host:port]``."""
        return bootstrap_servers(self.broker_url)


class ServiceError(RuntimeError):
    """A service cannot be found; the message names the part and the fix."""


@dataclass
class Part:
    """One process of the embedded stack as ``stack.json`` records it (``pid`` None: stopped)."""

    name: str
    port: int
    pid: int | None
    url: str
    log: str
    command: list[str]
    data_dir: str | None = None
    bin_dir: str | None = None
    watchdog_pid: int | None = None


@dataclass
class StackState:
    """The contents of ``stack.json``: who started the embedded stack and its parts."""

    owner_pid: int
    detached: bool
    started_at: str
    parts: dict[str, Part]


def read_state(path: Path) -> StackState | None:
    """The embedded stack's state file, or None when there is none."""
    try:
        raw = json.loads(path.read_text())
        parts = {name: Part(**fields) for name, fields in raw["parts"].items()}
        return StackState(
            int(raw["owner_pid"]), bool(raw["detached"]), str(raw["started_at"]), parts
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ServiceError(
            f"stack: cannot read {path} ({exc}); stop any leftover tansu, osmem-server or "
            "postgres started from it, delete it, and run `lookout stack up` again"
        ) from None


def process_alive(pid: int | None, marker: bytes) -> bool:
    """True when ``pid`` runs a command containing ``marker`` and is not a zombie."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()  # empty for a zombie
    except OSError:
        return False
    return marker in cmdline


def part_health(part: Part) -> str:
    """``running``, ``stopped`` (on purpose) or ``dead``."""
    if part.pid is None:
        return "stopped"
    return "running" if process_alive(part.pid, MARKER[part.name]) else "dead"


def needed_parts(settings: Settings) -> tuple[str, ...]:
    """The parts the settings leave to the embedded stack (their URL is unset)."""
    unset = {
        STORE: settings.broker_url is None and settings.broker_storage == "disk",
        BROKER: settings.broker_url is None,
        POSTGRES: settings.postgres_dsn is None,
        OSMEM: settings.elasticsearch_url is None,
    }
    return tuple(name for name in PARTS if unset[name])


def services_from(settings: Settings, parts: dict[str, Part], stack_dir: Path) -> Services:
    """Services from the settings, with the unset ones taken from the embedded ``parts``."""

    def url(name: str) -> str:
        if name not in parts:
            raise ServiceError(
                f"{name}: the embedded stack in {stack_dir} is not up; call up() first"
            )
        return parts[name].url

    dsn = settings.postgres_dsn
    return Services(
        broker_url=settings.broker_url or url(BROKER),
        postgres_dsn=dsn.get_secret_value() if dsn is not None else url(POSTGRES),
        elasticsearch_url=settings.elasticsearch_url or url(OSMEM),
        embedded_es=settings.elasticsearch_url is None,
    )


def resolve_services(settings: Settings) -> Services:
    """Services from the settings; unset ones from a running embedded stack's ``stack.json``."""
    needed = needed_parts(settings)
    if not needed:
        return services_from(settings, {}, settings.stack_dir)
    stack_dir = settings.stack_dir.expanduser().resolve()
    state = read_state(stack_dir / STATE_FILE)
    variables = " / ".join(ENV_VAR[name] for name in needed)
    if state is None:
        raise ServiceError(
            f"stack: no embedded stack runs in {stack_dir} (needed for {', '.join(needed)}); "
            f"start one with `lookout stack up`, or set {variables}"
        )
    down = [
        name
        for name in needed
        if name not in state.parts or part_health(state.parts[name]) == "dead"
    ]
    if down:
        raise ServiceError(
            f"stack: the embedded stack in {stack_dir} is stale ({', '.join(down)} not running); "
            f"run `lookout stack up` again, or set {variables}"
        )
    return services_from(settings, state.parts, stack_dir)


def resolve_bootstrap(settings: Settings) -> str:
    """``host:port`` list of the configured broker, or of the running embedded one (broker only)."""
    url = settings.broker_url
    if url is None:
        stack_dir = settings.stack_dir.expanduser().resolve()
        state = read_state(stack_dir / STATE_FILE)
        part = state.parts.get(BROKER) if state is not None else None
        if part is None or part_health(part) == "dead":
            raise ServiceError(
                f"stack: no embedded broker runs in {stack_dir}; start one with "
                "`lookout stack up`, or set LOOKOUT_BROKER_URL"
            )
        url = part.url
    return bootstrap_servers(url)
