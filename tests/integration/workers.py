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


class Process:
    """A test server subprocess in its own session, logging to ``log_path``."""

    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``argv`` with stdout and stderr appended to the log."""
        with open(self.log_path, "ab") as fh:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill9(self) -> None:
        """SIGKILL the process group: no shutdown (a worker: no final commit)."""
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


class Worker(Process):
    """One ``lookout worker`` subprocess with its own web port and data dir."""

    def __init__(
        self, env: dict[str, str], workdir: Path, name: str = "w1", module: str = "app.cli"
    ) -> None:
        self.port = free_port()
        self.module = module  # what ``python -m`` runs: the CLI, or a test wrapper around it
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
        level = os.environ.get("TEST_WORKER_LOG_LEVEL", "info")
        self.spawn([sys.executable, "-m", self.module, "worker", "-l", level], self.env)
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

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s series on /metrics whose labels include ``labels``."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        total = 0.0
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            metric, _, rest = series.partition("{")
            if metric == name and wanted <= set(rest.rstrip("}").split(",")):
                total += float(value)
        return total


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
