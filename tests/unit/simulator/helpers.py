"""Decoders for what the simulator writes, and small builders shared by its tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from devtools.simulator.generator import (
    KIND_APP,
    KIND_METRICS,
    KIND_NGINX,
    SimRecord,
    TrafficGenerator,
)
from devtools.simulator.options import SimOptions

START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()  # a multiple of every interval used

RAW_ACCESS = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<time>[^\]]+)\] "(?P<verb>\S+) (?P<request>\S+) HTTP/1\.1" '
    r'(?P<status>\d{3}) (?P<size>\d+) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)" '
    r"(?P<rt>\d+\.\d{3}) (?P<urt>\d+\.\d{3})$"
)
RAW_ERROR = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(?P<level>\w+)\] \d+#\d+: \*\d+ ")


def run(
    seconds: float, start: float = START, **options: Any
) -> tuple[TrafficGenerator, list[SimRecord]]:
    """A fresh generator and every record of its first ``seconds`` of event time."""
    gen = TrafficGenerator(SimOptions(**options), start)
    return gen, list(gen.records(gen.start + seconds))


def telegraf(records: list[SimRecord], kind: str | None = None) -> list[dict[str, Any]]:
    """Every Telegraf metric in JSON/batch records (of one kind, or of both Telegraf kinds)."""
    out: list[dict[str, Any]] = []
    for r in records:
        if r.kind != kind if kind is not None else r.kind == KIND_APP:
            continue
        doc = orjson.loads(r.value)
        out.extend(doc.get("metrics", [doc]))
    return out


def metrics_of(records: list[SimRecord]) -> list[dict[str, Any]]:
    """System metrics (topic kind telegraf.metrics)."""
    return telegraf(records, KIND_METRICS)


def nginx_of(records: list[SimRecord], name: str = "nginx_access_log") -> list[dict[str, Any]]:
    """nginx access (or error) log metrics."""
    return [m for m in telegraf(records, KIND_NGINX) if m["name"] == name]


def share_5xx(access: list[dict[str, Any]]) -> float:
    """Share of access-log metrics with a 5xx status."""
    if not access:
        return 0.0
    return sum(m["tags"]["resp_code"].startswith("5") for m in access) / len(access)
