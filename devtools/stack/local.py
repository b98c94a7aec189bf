"""The embedded local stack: Tansu broker, a private PostgreSQL cluster and osmem-server.

A part starts only when its service URL is unset in the settings. Data, logs and the state file
``stack.json`` live under ``settings.stack_dir``. An attached stack dies with the process that
started it (see :mod:`devtools.stack.processes`); a detached one (``lookout stack up``) runs
until ``lookout stack down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from app.services import (
    BROKER,
    MARKER,
    OSMEM,
    PARTS,
    POSTGRES,
    STATE_FILE,
    STORE,
    Part,
    Services,
    StackState,
    needed_parts,
    read_state,
    services_from,
)
from app.settings import Settings
from devtools.stack import postgres
from devtools.stack.binaries import osmem_binary, tansu_binary
from devtools.stack.errors import StackError
from devtools.stack.ports import HOST, accepts, free_port, http_ok, owns_listener, port_taken
from devtools.stack.processes import alive, read_from, size, spawn, terminate, wait_or_kill

_LOG_NAME = {
    STORE: "broker-store.log",
    BROKER: "broker.log",
    POSTGRES: "pg.log",
    OSMEM: "osmem.log",
}
BUCKET = "tansu"
PORT_FILE = "broker.port"
# The object store checks no credentials (it listens on the loopback address only).
_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "lookout",
    "AWS_SECRET_ACCESS_KEY": "lookout",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


class LocalStack:
    """The embedded broker, Postgres and osmem-server for the services the settings leave unset."""

    def __init__(
        self,
        settings: Settings,
        *,
        detached: bool = False,
        log: Callable[[str], None] = print,
        broker_port: int | None = None,
        postgres_port: int | None = None,
        osmem_port: int | None = None,
    ) -> None:
        self._settings = settings
        self._dir = settings.stack_dir.expanduser().resolve()
        self._detached = detached
        self._log = log
        self._fixed = {
            STORE: None,
            BROKER: broker_port,
            POSTGRES: postgres_port,
            OSMEM: osmem_port,
        }
        for name, port in self._fixed.items():
            if port is not None and not 0 < port < 65536:
                raise ValueError(f"{name}_port must be between 1 and 65535, got {port}")
        self._parts: dict[str, Part] = {}
        self._adopted_from: int | None = None
        self._owner = (os.getpid(), detached, "")

    # --- public API ---
    @property
    def state_path(self) -> Path:
        """The state file that ``lookout worker`` and ``lookout stack down`` read."""
        return self._dir / STATE_FILE

    @property
    def needed(self) -> tuple[str, ...]:
        """The parts the settings leave to the embedded stack."""
        return needed_parts(self._settings)

    @property
    def services(self) -> Services:
        """What the worker connects to (after :meth:`up`)."""
        return services_from(self._settings, self._parts, self._dir)

    def up(self, timeout: float = 90.0) -> Services:
        """Start the parts the settings need, write ``stack.json`` and return the services."""
        if self._parts:
            return self.services
        self._dir.mkdir(parents=True, exist_ok=True)
        state = read_state(self.state_path)
        if state is not None and self._reuse_or_replace(state):
            return self.services
        deadline = time.monotonic() + timeout
        self._owner = (os.getpid(), self._detached, datetime.now(UTC).isoformat(timespec="seconds"))
        try:
            for name in self.needed:
                self._parts[name] = self._start(name, None, deadline, timeout)
                self._write_state()
        except BaseException:
            self.down()
            raise
        return self.services

    def down(self) -> None:
        """Stop what this stack (or, for a fresh object, the state file) started; idempotent."""
        if self._adopted_from is not None:
            self._log(f"stack: leaving the stack of pid {self._adopted_from} running")
            self._adopted_from = None
            self._parts.clear()
            return
        if not self._parts:
            state = read_state(self.state_path)
            if state is None:
                return
            self._parts = state.parts
        for name in reversed(PARTS):
            part = self._parts.get(name)
            if part is not None and part.pid is not None:
                started, was = time.monotonic(), _health(part)
                self._stop(part)
                if was == "running":
                    self._log(f"{name}: stopped in {time.monotonic() - started:.1f} s")
        self._parts.clear()
        self.state_path.unlink(missing_ok=True)

    def stop_part(self, name: str) -> None:
        """Stop one part; :meth:`start_part` brings it back on the same port."""
        part = self._part(name)
        if part.pid is None:
            return
        started = time.monotonic()
        self._stop(part)
        self._write_state()
        self._log(f"{name}: stopped in {time.monotonic() - started:.1f} s")

    def start_part(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped part again on its port (osmem comes back empty, Postgres with data)."""
        part = self._part(name)
        if part.pid is not None and alive(part.pid, MARKER[name]):
            return
        self._parts[name] = self._start(name, part.port, time.monotonic() + timeout, timeout)
        self._write_state()

    def status(self) -> dict[str, object]:
        """What runs where: per part ``running``, ``stopped`` (on purpose) or ``dead``."""
        state = read_state(self.state_path)
        parts = self._parts or (state.parts if state else {})
        health = {name: _health(part) for name, part in parts.items()}
        return {
            "stack_dir": str(self._dir),
            "state_file": str(self.state_path),
            "running": bool(parts) and "dead" not in health.values(),
            "stale": "dead" in health.values(),
            "owner_pid": state.owner_pid if state else None,
            "detached": state.detached if state else None,
            "external": [name for name in PARTS[1:] if name not in self.needed],
            "parts": {
                name: {
                    "state": health[name],
                    "pid": part.pid,
                    "port": part.port,
                    "url": part.url,
                    "log": part.log,
                }
                for name, part in parts.items()
            },
        }

    def __enter__(self) -> LocalStack:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # --- state ---
    def _reuse_or_replace(self, state: StackState) -> bool:
        """Reuse a live stack that has every needed part; replace a stale one. True: reused."""
        health = {name: _health(part) for name, part in state.parts.items()}
        dead = [name for name, h in health.items() if h == "dead"]
        if dead or "running" not in health.values():
            gone = ", ".join(dead) or "nothing running"
            self._log(f"stack: {self.state_path} is stale ({gone}); replacing it")
            self._parts = state.parts
            self.down()
            return False
        missing = [name for name in self.needed if health.get(name) != "running"]
        if missing:
            raise StackError(
                f"stack: a stack (pid {state.owner_pid}) already runs in {self._dir} without "
                f"{', '.join(missing)}; stop it with `lookout stack down`, or set "
                "LOOKOUT_STACK_DIR to another folder"
            )
        self._parts = state.parts
        self._adopted_from = state.owner_pid
        self._owner = (state.owner_pid, state.detached, state.started_at)
        self._log(f"stack: already running in {self._dir} (pid {state.owner_pid}); using it")
        return True

    def _write_state(self) -> None:
        owner_pid, detached, started_at = self._owner
        state = {
            "version": 1,
            "owner_pid": owner_pid,
            "detached": detached,
            "started_at": started_at,
            "parts": {name: asdict(part) for name, part in self._parts.items()},
        }
        tmp = self.state_path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_path)

    def _part(self, name: str) -> Part:
        if not self._parts:
            state = read_state(self.state_path)
            if state is not None:
                self._parts = state.parts
                self._owner = (state.owner_pid, state.detached, state.started_at)
        if name not in self._parts:
            raise StackError(
                f"{name}: not part of the embedded stack in {self._dir} "
                f"(parts: {', '.join(self._parts) or 'none'}); start it with `lookout stack up`"
            )
        return self._parts[name]

    # --- start and stop ---
    def _start(self, name: str, port: int | None, deadline: float, timeout: float) -> Part:
        port = port or self._fixed[name] or self._last_port(name) or free_port()
        if port_taken(port):
            raise StackError(
                f"{name}: port {HOST}:{port} is already in use; stop what holds it "
                f"(`ss -ltnp 'sport = :{port}'`), choose another port, or leave the port unset "
                "to get a free one"
            )
        started = time.monotonic()
        self._log(f"{name}: starting on {HOST}:{port}")
        start = {
            STORE: self._start_store,
            BROKER: self._start_broker,
            POSTGRES: self._start_postgres,
            OSMEM: self._start_osmem,
        }
        part = start[name](port, deadline, timeout)
        self._log(f"{name}: ready in {time.monotonic() - started:.1f} s at {part.url}")
        return part

    def _start_store(self, port: int, deadline: float, timeout: float) -> Part:
        """The object store keeping the durable broker's data in files under ``broker-data``."""
        log = self._dir / _LOG_NAME[STORE]
        data = self._dir / "broker-data"
        cmd = [sys.executable, "-m", "devtools.stack.objstore", "--dir", str(data)]
        cmd += ["--host", HOST, "--port", str(port), "--bucket", BUCKET]
        offset = size(log)
        proc = spawn(cmd, log, detached=self._detached)

        def ready() -> bool:
            return "listening on" in read_from(log, offset) and accepts(port)

        wait_or_kill(STORE, proc, ready, cmd, log, deadline, timeout)
        url = f"http://{HOST}:{port}"
        return Part(STORE, port, proc.pid, url, str(log), cmd, str(data))

    def _start_broker(self, port: int, deadline: float, timeout: float) -> Part:
        store = self._parts.get(STORE)
        listener = f"tcp://{HOST}:{port}"
        cmd = [tansu_binary(), "broker", "--listener-url", listener]
        cmd += ["--advertised-listener-url", listener, "--storage-engine"]
        env = None
        if store is None:
            cmd.append("memory://tansu/")
        else:
            cmd.append(f"s3://{BUCKET}/")
            env = {**os.environ, **_S3_ENV, "AWS_ENDPOINT": store.url}
            (Path(str(store.data_dir)) / PORT_FILE).write_text(str(port))
        log = self._dir / _LOG_NAME[BROKER]
        offset = size(log)
        proc = spawn(cmd, log, detached=self._detached, env=env)

        def ready() -> bool:
            printed = "ready in" in read_from(log, offset)
            return printed and accepts(port) and owns_listener(proc.pid, port)

        wait_or_kill(BROKER, proc, ready, cmd, log, deadline, timeout)
        return Part(BROKER, port, proc.pid, f"kafka://{HOST}:{port}", str(log), cmd)

    def _last_port(self, name: str) -> int | None:
        """The durable broker's port of its last start, when free: its storage keeps the
        advertised address, so a broker on another port would send clients to the old one."""
        store = self._parts.get(STORE)
        if name != BROKER or store is None or store.data_dir is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            last = int((Path(store.data_dir) / PORT_FILE).read_text())
            if not port_taken(last):
                return last
            self._log(f"broker: port {last} of its last start is taken; clients may fail")
        return None

    def _start_osmem(self, port: int, deadline: float, timeout: float) -> Part:
        cmd = [osmem_binary(), "-addr", f"{HOST}:{port}", "-no-stdin-watch"]
        if not self._detached:
            cmd += ["-parent-pid", str(os.getpid())]
        log = self._dir / _LOG_NAME[OSMEM]
        offset = size(log)
        proc = spawn(cmd, log, detached=self._detached)
        url = f"http://{HOST}:{port}"

        def ready() -> bool:
            announced = _announced_url(read_from(log, offset))
            return announced is not None and http_ok(announced)

        wait_or_kill(OSMEM, proc, ready, cmd, log, deadline, timeout)
        return Part(OSMEM, port, proc.pid, url, str(log), cmd)

    def _start_postgres(self, port: int, deadline: float, timeout: float) -> Part:
        log = self._dir / _LOG_NAME[POSTGRES]
        return postgres.start(
            self._dir, port, log, deadline, timeout, detached=self._detached, say=self._log
        )

    def _stop(self, part: Part) -> None:
        if part.pid is None:
            return
        if part.name == POSTGRES:
            postgres.stop(part)
        else:
            terminate(part.pid, MARKER[part.name])
        part.pid = None
        part.watchdog_pid = None


def _health(part: Part) -> str:
    if part.pid is None:
        return "stopped"
    return "running" if alive(part.pid, MARKER[part.name]) else "dead"


def _announced_url(output: str) -> str | None:
    """The ``url`` of osmem-server's JSON start line, once printed."""
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                message: Any = json.loads(line)
                if isinstance(message, dict) and isinstance(message.get("url"), str):
                    return message["url"]
    return None
