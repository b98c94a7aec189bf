"""Subprocesses of a benchmark run: started in their own session, dying with the bench, stopped.

Every child gets ``PR_SET_PDEATHSIG`` (SIGTERM when the bench process dies, even by SIGKILL)
and its own process group, which :meth:`Child.stop` signals as a whole.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with(parent: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class Child:
    """One subprocess with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.cmd = cmd
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops us in order
                preexec_fn=_die_with(os.getpid()),
            )

    @property
    def pid(self) -> int:
        """Process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def peak_rss_mb(self) -> float | None:
        """Peak resident set size (``VmHWM``) in MiB, or None once the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the process has used so far, or None once it is gone."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return None
        # after the command name: state is field 3, utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 25) -> str:
        """The last lines of the log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def failure(self, what: str) -> RuntimeError:
        """An error naming the child, its log and the log's last lines."""
        return RuntimeError(f"{self.name}: {what}; log {self.log}:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process group (SIGTERM), SIGKILL it after :data:`STOP_TIMEOUT`; idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Children:
    """Every child of the run, so one ``stop_all`` in a ``finally`` leaves nothing behind."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def start(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> Child:
        """Start and remember a child."""
        child = Child(name, cmd, log, env)
        self._children.append(child)
        return child

    def stop(self, child: Child, sig: int = signal.SIGTERM) -> None:
        """Stop one child now."""
        child.stop(sig)
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self._children:
            self._children.pop().stop()
