"""A real Prometheus (Debian's package) for the integration tests: its own port, data dir and
scrape config; stopped at the end. A missing binary fails the test (``make prometheus``)."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.workers import Process, free_port

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "infra" / "prometheus" / "rules").glob("*.yml"))


def require(binary: Path) -> str:
    """The binary's path; fails the test (never skips) when Debian's prometheus is missing."""
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: run `make prometheus` (Debian's prometheus package)")
    return str(binary)


class Prometheus(Process):
    """One Prometheus process scraping ``targets`` as job ``lookout`` with Lookout's rules."""

    def __init__(self, workdir: Path, targets: list[str], interval: str = "1s") -> None:
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": interval, "evaluation_interval": interval},
                    "rule_files": [str(p) for p in RULES],
                    "scrape_configs": [
                        {"job_name": "lookout", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 30.0) -> Prometheus:
        """Start it and wait until it answers ready."""
        self.spawn(
            [
                require(PROMETHEUS),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ]
        )
        assert self.proc is not None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready in {wait} s:\n{self.tail()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises on a query error)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.loads(resp.read())
        assert doc["status"] == "success", doc
        return doc["data"]["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query (None when it has no result)."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None
