"""Launching and supervising the stack's servers: spawn, wait, terminate, die with the parent.

An attached server dies with the process that started it: ``PR_SET_PDEATHSIG`` for the ones
spawned here, osmem's ``-parent-pid``, and for Postgres (started by ``pg_ctl``, so not our
child) a watchdog that stops the postmaster when the pipe from the launcher closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from app.services import MARKER, process_alive
from devtools.stack.errors import failure

STOP_TIMEOUT = 10.0
WATCHDOG_MARKER = "lookout-pg-watchdog"
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

# Popen objects of the servers this process started, so they are reaped, never left as zombies.
CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_spawn_pool: ThreadPoolExecutor | None = None
_spawn_lock = threading.Lock()


def spawn(
    cmd: list[str], log: Path, *, detached: bool, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server with its output appended to ``log``; attached: it dies with us."""
    preexec = None if detached else _die_with_parent(os.getpid())

    def popen() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C at the terminal is ours to handle
                preexec_fn=preexec,
            )

    proc = popen() if preexec is None else _in_lasting_thread(popen)
    CHILDREN[proc.pid] = proc
    return proc


def start_watchdog(postmaster: int, log: Path) -> int:
    """Start the watchdog that stops the ``postmaster`` when this process dies; its pid."""
    cmd = [sys.executable, "-c", _WATCHDOG, str(postmaster), WATCHDOG_MARKER]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    CHILDREN[proc.pid] = proc
    return proc.pid


def alive(pid: int | None, marker: bytes) -> bool:
    """True when ``pid`` runs ``marker`` (a child this process started and reaped is not)."""
    child = CHILDREN.get(pid) if pid else None
    if child is not None and child.poll() is not None:
        return False
    return process_alive(pid, marker)


def terminate(pid: int, marker: bytes) -> None:
    """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; waits until the process is gone."""
    child = CHILDREN.pop(pid, None)
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
    if not alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, marker, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, marker, 5.0)


def _wait_gone(pid: int, marker: bytes, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while alive(pid, marker):
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


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


def run(
    part: str,
    cmd: list[str],
    log: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    *,
    capture: bool = False,
) -> bytes:
    """Run a setup command with its output appended to ``log`` (``capture``: its stdout is
    returned instead); fail with a :class:`StackError`."""
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else out,
                stderr=out if capture else subprocess.STDOUT,
                timeout=max(timeout, 1.0),
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise failure(part, f"`{_program(cmd)}` timed out", cmd, log) from None
    if done.returncode != 0:
        raise failure(part, f"`{_program(cmd)}` failed (exit {done.returncode})", cmd, log)
    return done.stdout or b""


def _program(cmd: Sequence[str]) -> str:
    args = list(cmd[4:]) if cmd[:1] == ["runuser"] else list(cmd)
    return Path(args[0]).name if args else "?"


def wait_or_kill(
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
        wait(part, ready, lambda: proc.poll() is None, cmd, log, deadline, timeout)
    except BaseException:
        terminate(proc.pid, MARKER[part])
        raise


def wait(
    part: str,
    ready: Callable[[], bool],
    alive: Callable[[], bool],
    cmd: list[str],
    log: Path,
    deadline: float,
    timeout: float,
) -> None:
    """Wait until ``ready()``; fail when ``alive()`` turns false or at ``deadline``."""
    while not ready():
        if not alive():
            raise failure(part, "exited during startup", cmd, log)
        if time.monotonic() >= deadline:
            raise failure(part, f"not ready within the {timeout:.0f} s timeout", cmd, log)
        time.sleep(0.05)


def size(path: Path) -> int:
    """The size of ``path`` in bytes (0 when it does not exist yet)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: Path, offset: int) -> str:
    """The text of ``path`` from byte ``offset`` on (what a server printed since)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def left(deadline: float) -> float:
    """Seconds left until the monotonic ``deadline`` (never negative)."""
    return max(0.0, deadline - time.monotonic())
