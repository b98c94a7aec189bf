"""The figures table, the targets with PASS/MISS, and the one-line JSON summary."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.bench.result import BARE, DRAIN_TITLES, DRAINS, LOOKOUT, NAIVE, QUIX, RAW, Results
from devtools.bench.workloads import W1, W2, WORKLOADS

JSON_NAMES = {RAW: "raw", BARE: "faust_bare", NAIVE: "naive", LOOKOUT: "lookout", QUIX: "quix"}
RSS_LIMIT_MB = 500.0
P99_LIMIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Target:
    """One target: its figure, the goal, and PASS / MISS / n/a (``ok`` None: not measured)."""

    key: str
    label: str
    figure: str
    goal: str
    ok: bool | None

    @property
    def verdict(self) -> str:
        """PASS, MISS or n/a."""
        return "n/a" if self.ok is None else ("PASS" if self.ok else "MISS")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _target(
    key: str, label: str, value: float | None, goal: str, test: Callable[[float], bool], fmt: str
) -> Target:
    if value is None:
        return Target(key, label, "not measured", goal, None)
    return Target(key, label, format(value, fmt), goal, test(value))


def targets(results: Results) -> list[Target]:
    """The targets of a 2-core machine, evaluated on what was measured."""
    eps = results.eps
    w2_lookout = results.drains.get((LOOKOUT, W2))
    rss = w2_lookout.peak_rss_mb if w2_lookout is not None else None
    lat = results.latency
    p99 = lat.quantile(0.99) if lat is not None else None
    quix_gap = _ratio(eps(LOOKOUT, W2), eps(QUIX, W2))
    sinks = results.sinks or {}
    return [
        _target(
            "pg_vs_ceiling",
            "Postgres sink / bare COPY",
            _ratio(sinks.get("pg_rows_s"), sinks.get("pg_ceiling_rows_s")),
            ">= 0.50x",
            lambda v: v >= 0.5,
            ".2f",
        ),
        _target(
            "es_vs_ceiling",
            "Elasticsearch sink / bare _bulk",
            _ratio(sinks.get("es_docs_s"), sinks.get("es_ceiling_docs_s")),
            ">= 0.50x",
            lambda v: v >= 0.5,
            ".2f",
        ),
        _target(
            "w1_lookout_vs_bare",
            "W1 (c)/(a')",
            _ratio(eps(LOOKOUT, W1), eps(BARE, W1)),
            ">= 0.80x",
            lambda v: v >= 0.8,
            ".2f",
        ),
        _target(
            "w1_lookout_vs_naive",
            "W1 (c)/(b)",
            _ratio(eps(LOOKOUT, W1), eps(NAIVE, W1)),
            ">= 3.0x",
            lambda v: v >= 3.0,
            ".1f",
        ),
        _target(
            "w2_lookout_eps",
            "W2 (c) metrics/s",
            eps(LOOKOUT, W2),
            ">= 100,000",
            lambda v: v >= 100_000,
            ",.0f",
        ),
        _target(
            "w2_lookout_vs_raw",
            "W2 (c)/(a)",
            _ratio(eps(LOOKOUT, W2), eps(RAW, W2)),
            ">= 0.25x",
            lambda v: v >= 0.25,
            ".2f",
        ),
        _target("w2_lookout_vs_quix", "W2 (c)/(d)", quix_gap, "> 1.0x", lambda v: v > 1.0, ".1f"),
        _target(
            "peak_rss",
            "peak RSS, W2 (10,000 series), MB",
            rss,
            f"< {RSS_LIMIT_MB:.0f}",
            lambda v: v < RSS_LIMIT_MB,
            ",.0f",
        ),
        _target(
            "p99_visible",
            "p99 produce-to-visible, s",
            p99,
            f"< {P99_LIMIT_S:.0f}",
            lambda v: v < P99_LIMIT_S,
            ".2f",
        ),
    ]


def table(results: Results) -> str:
    """Metrics per second per drainer and workload, the targets, and the latency figures."""
    lines = [f"metrics/s, {results.count:,} metrics per workload (1,000 hosts x 10 series)"]
    lines.append(f"  {'drain':<40} {'W1 (1/msg)':>14} {'W2 (100/msg)':>14}")
    skipped = {(s.drain, s.workload): s.reason for s in results.skipped}
    notes: list[str] = []
    for drain in DRAINS:
        cells = []
        for workload in WORKLOADS:
            r = results.drains.get((drain, workload))
            if r is not None:
                cells.append(f"{r.eps:>13,.0f}{'' if r.complete else '*'}")
            elif (drain, workload) in skipped:
                cells.append(f"{'skipped':>14}")
                notes.append(f"  {drain} {workload}: skipped, {skipped[(drain, workload)]}")
            else:
                cells.append(f"{'-':>14}")
        if any(c.strip() != "-" for c in cells):
            lines.append(f"  {DRAIN_TITLES[drain]:<40} {cells[0]:>14} {cells[1]:>14}")
    if any(not r.complete for r in results.drains.values()):
        notes.append("  *: stopped at the time limit; the rate covers what it processed")
    lines += notes
    lines.append("")
    lines.append("targets (2-core machine)")
    for t in targets(results):
        lines.append(f"  {t.label:<36} {t.figure:>14}   target {t.goal:<10} {t.verdict}")
    lat = results.latency
    if lat is not None:
        p50 = lat.quantile(0.5)
        lines.append(
            f"  latency: {lat.sent:,} messages at {lat.rate:,.0f}/s, {len(lat.samples)} of "
            f"{len(lat.samples) + lat.missing} samples seen, p50 {p50 or 0:.2f} s"
        )
    elif results.latency_skipped:
        lines.append(f"  latency: skipped, {results.latency_skipped}")
    if results.sinks:
        s = results.sinks
        lines.append(
            f"  sinks: Postgres {s['pg_rows_s']:,.0f} rows/s (bare COPY "
            f"{s['pg_ceiling_rows_s']:,.0f}), Elasticsearch {s['es_docs_s']:,.0f} docs/s "
            f"(bare _bulk {s['es_ceiling_docs_s']:,.0f})"
        )
    elif results.sinks_skipped:
        lines.append(f"  sinks: skipped, {results.sinks_skipped}")
    return "\n".join(lines)


def summary(
    results: Results, machine_info: dict[str, Any], date: str, commit: str | None = None
) -> dict[str, Any]:
    """The JSON summary: figures, targets, the machine and the commit measured."""
    out: dict[str, Any] = {}
    for workload in WORKLOADS:
        for drain in DRAINS:
            r = results.drains.get((drain, workload))
            key = f"{workload}_{JSON_NAMES[drain]}_eps"
            if r is not None:
                out[key] = round(r.eps)
                if not r.complete:
                    out[f"{key}_partial"] = True
            elif drain != QUIX:
                out[key] = None
    w1_rss = results.drains.get((LOOKOUT, W1))
    w2_rss = results.drains.get((LOOKOUT, W2))
    out["peak_rss_mb"] = _round(w2_rss.peak_rss_mb if w2_rss else None, 1)
    out["w1_peak_rss_mb"] = _round(w1_rss.peak_rss_mb if w1_rss else None, 1)
    lat = results.latency
    out["p50_visible_s"] = _round(lat.quantile(0.5) if lat else None, 3)
    out["p99_visible_s"] = _round(lat.quantile(0.99) if lat else None, 3)
    for key in ("pg_rows_s", "pg_ceiling_rows_s", "es_docs_s", "es_ceiling_docs_s"):
        out[key] = round(results.sinks[key]) if results.sinks else None
    out["n"] = results.count
    out["targets"] = {t.key: t.verdict for t in targets(results)}
    out["skipped"] = {f"{s.workload}_{JSON_NAMES[s.drain]}": s.reason for s in results.skipped}
    out["machine"] = machine_info
    out["date"] = date
    out["commit"] = commit
    return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    """nproc, CPU model and RAM of this machine."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "cpu": model, "ram_gb": ram_gb}


def revision() -> str | None:
    """The git commit of the code under test (``+dirty`` with uncommitted changes), if known."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def today(now: datetime | None = None) -> str:
    """The run's date (UTC), ISO format."""
    return (now or datetime.now(UTC)).date().isoformat()
