"""Start real ``lookout worker`` processes for integration tests (and kill them, also with -9)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """One ``lookout worker`` subprocess with its own web port and data dir."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "w1") -> None:
        self.port = free_port()
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            **env,
            "LOOKOUT_WEB_PORT": str(self.port),
            "LOOKOUT_DATA_DIR": str(workdir / f"{name}-data"),
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> Worker:
        """Start the worker and wait until it has partitions assigned."""
        with open(self.log_path, "ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "worker",
                    "-l",
                    os.environ.get("TEST_WORKER_LOG_LEVEL", "info"),
                ],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(wait)
        return self

    def wait_ready(self, wait: float) -> None:
        """Block until /api/health answers with partitions, or fail with the worker's log."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.tail()}")
            try:
                health = self.get("/api/health")
                if health.get("partitions") and health.get("status") == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"worker {self.name} not ready in {wait} s:\n{self.tail()}")

    def get(self, path: str) -> Any:
        """GET a JSON document from this worker (as the server admin when it has a token)."""
        token = self.env.get("LOOKOUT_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    def kill9(self) -> None:
        """SIGKILL the worker: no shutdown, no final commit."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def worker_env(services: Any, topic_prefix: str, **extra: str) -> dict[str, str]:
    """Environment for a worker on the test stack with its own topics and consumer group."""
    env = {
        "LOOKOUT_BROKER_URL": services.broker_url,
        "LOOKOUT_POSTGRES_DSN": services.postgres_dsn,
        "LOOKOUT_ELASTICSEARCH_URL": services.elasticsearch_url,
        "LOOKOUT_TOPIC_PREFIX": topic_prefix,
        "LOOKOUT_APP_ID": f"lookout-{topic_prefix.strip('.')}",
        # Tests that exercise the sinks ask for them; the others keep the session database and
        # the shared osmem out of it.
        "LOOKOUT_SINKS": "none",
    }
    env.update({f"LOOKOUT_{k.upper()}": v for k, v in extra.items()})
    return env
