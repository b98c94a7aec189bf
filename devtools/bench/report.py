"""The figures table, the targets with PASS/MISS, and the one-line JSON summary.

JSON rate keys are ``WORKLOAD_DRAIN_UNIT``: ``eps`` (metrics/s) for w1 and w2 as before, ``mps``
(metrics/s) and ``fps`` (fields/s) for w1f, ``lps`` (lines/s) for w3; ``..._runs`` lists every
run's rate of a repeated drain (the key itself is the median run).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import native
from devtools.bench.catalog import SHAPES
from devtools.bench.options import RSS_LIMIT
from devtools.bench.result import (
    BARE,
    DRAIN_TITLES,
    LOOKOUT,
    LOOKOUT_NOPAT,
    LOOKOUT_SINKS,
    NAIVE,
    QUIX,
    RAW,
    ROWS,
    Results,
)
from devtools.bench.workloads import W1, W1F, W2, W3, W3A, WORKLOADS

JSON_NAMES = {
    RAW: "raw",
    BARE: "faust_bare",
    NAIVE: "naive",
    LOOKOUT: "lookout",
    LOOKOUT_NOPAT: "lookout_nopat",
    LOOKOUT_SINKS: "lookout_sinks",
    QUIX: "quix",
}
P99_LIMIT_S = 1.0


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


def _goal(
    key: str, label: str, value: float | None, floor: float, fmt: str, goal: str | None = None
) -> Target:
    return _target(key, label, value, goal or f">= {floor:{fmt}}x", lambda v: v >= floor, fmt)


def targets(results: Results) -> list[Target]:
    """The targets of issue 15 (2-core machine, sinks off), evaluated on what was measured."""
    eps = results.eps
    w2_lookout = results.drains.get((LOOKOUT, W2))
    rss = w2_lookout.peak_rss_mb if w2_lookout is not None else None
    lat = results.latency
    p99 = lat.quantile(0.99) if lat is not None else None
    return [
        _goal(
            "w1_lookout_vs_quix", "W1 (c)/(d)", _ratio(eps(LOOKOUT, W1), eps(QUIX, W1)), 2, ".1f"
        ),
        _goal(
            "w1f_lookout_vs_quix",
            "W1f (c)/(d), metrics/s",
            _ratio(eps(LOOKOUT, W1F), eps(QUIX, W1F)),
            2,
            ".1f",
        ),
        _goal(
            "w3_lookout_vs_quix", "W3 (c)/(d)", _ratio(eps(LOOKOUT, W3), eps(QUIX, W3)), 2, ".1f"
        ),
        _goal("w3_lookout_lps", "W3 (c) lines/s", eps(LOOKOUT, W3), 10_000, ",.0f", ">= 10,000"),
        _goal(
            "w3_patterns_on_vs_off",
            "W3 (c)/(c-), patterns on/off",
            _ratio(eps(LOOKOUT, W3), eps(LOOKOUT_NOPAT, W3)),
            0.8,
            ".2f",
        ),
        _goal(
            "w3a_patterns_on_vs_off",
            "W3a (c)/(c-), patterns on/off (mined)",
            _ratio(eps(LOOKOUT, W3A), eps(LOOKOUT_NOPAT, W3A)),
            0.8,
            ".2f",
        ),
        _goal(
            "w2_lookout_vs_quix", "W2 (c)/(d)", _ratio(eps(LOOKOUT, W2), eps(QUIX, W2)), 3, ".1f"
        ),
        _goal(
            "w2_lookout_vs_raw", "W2 (c)/(a)", _ratio(eps(LOOKOUT, W2), eps(RAW, W2)), 0.15, ".2f"
        ),
        _target(
            "peak_rss",
            "peak RSS, W2 (10,000 series), MB",
            rss,
            f"< {RSS_LIMIT:.0f}",
            lambda v: v < RSS_LIMIT,
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


def _cell(results: Results, drain: str, workload: str, skipped: dict[tuple[str, str], str]) -> str:
    r = results.drains.get((drain, workload))
    if r is not None:
        return f"{r.eps:>13,.0f}{'' if r.complete else '*'}"
    return "skipped" if (drain, workload) in skipped else "-"


def table(results: Results) -> str:
    """Records per second per drainer and workload, the targets, and the latency figures."""
    shown = [w for w in WORKLOADS if any(k[1] == w for k in results.drains)] or [W1, W2]
    lines = [
        f"records/s (metrics/s; W3 lines/s), {results.count:,} records per workload, 1,000 hosts"
    ]
    lines.append(f"  {'drain':<40}" + "".join(f" {SHAPES[w].title:>14}" for w in shown))
    skipped = {(s.drain, s.workload): s.reason for s in results.skipped}
    notes = [f"  {d} {w}: skipped, {reason}" for (d, w), reason in skipped.items()]
    for drain in ROWS:
        cells = [_cell(results, drain, w, skipped) for w in shown]
        if any(c != "-" for c in cells):
            lines.append(f"  {DRAIN_TITLES[drain]:<40}" + "".join(f" {c:>14}" for c in cells))
    for (drain, workload), r in results.drains.items():
        if workload == W1F and r.metrics:
            lines.append(f"  W1f {drain}: {r.eps * fields_per_metric(results, W1F):,.0f} fields/s")
        if len(r.runs) > 1:
            runs = ", ".join(f"{x:,.0f}" for x in r.runs)
            lines.append(f"  {workload} {drain}: median of {len(r.runs)} runs ({runs})")
    if any(not r.complete for r in results.drains.values()):
        notes.append("  *: stopped at the time limit; the rate covers what it processed")
    lines += notes
    lines.append("")
    lines.append("targets (2-core machine, sinks off)")
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


def fields_per_metric(results: Results, workload: str) -> float:
    """Numeric fields per metric of a workload as produced (1.0 when unknown)."""
    return results.fields_per_record.get(workload, 1.0)


def summary(
    results: Results, machine_info: dict[str, Any], date: str, commit: str | None = None
) -> dict[str, Any]:
    """The JSON summary: figures, targets, the machine and the commit measured."""
    out: dict[str, Any] = {}
    for workload in WORKLOADS:
        suffix = SHAPES[workload].suffix
        for drain in ROWS:
            r = results.drains.get((drain, workload))
            key = f"{workload}_{JSON_NAMES[drain]}_{suffix}"
            if r is None:
                if drain not in (LOOKOUT_SINKS, LOOKOUT_NOPAT):
                    out[key] = None
                continue
            out[key] = round(r.eps)
            if workload == W1F:
                out[f"{workload}_{JSON_NAMES[drain]}_fps"] = round(
                    r.eps * fields_per_metric(results, W1F)
                )
            if r.runs:
                out[f"{key}_runs"] = [round(x) for x in r.runs]
            if not r.complete:
                out[f"{key}_partial"] = True
    w1_rss = results.drains.get((LOOKOUT, W1))
    w2_rss = results.drains.get((LOOKOUT, W2))
    out["peak_rss_mb"] = _round(w2_rss.peak_rss_mb if w2_rss else None, 1)
    out["w1_peak_rss_mb"] = _round(w1_rss.peak_rss_mb if w1_rss else None, 1)
    for workload in (W1F, W3, W3A):
        r = results.drains.get((LOOKOUT, workload))
        out[f"{workload}_peak_rss_mb"] = _round(r.peak_rss_mb if r else None, 1)
    lat = results.latency
    out["p50_visible_s"] = _round(lat.quantile(0.5) if lat else None, 3)
    out["p99_visible_s"] = _round(lat.quantile(0.99) if lat else None, 3)
    for key in ("pg_rows_s", "pg_ceiling_rows_s", "es_docs_s", "es_ceiling_docs_s"):
        out[key] = round(results.sinks[key]) if results.sinks else None
    out["n"] = results.count
    out["repeat"] = results.repeat
    out["targets"] = {t.key: t.verdict for t in targets(results)}
    out["skipped"] = {f"{s.workload}_{JSON_NAMES[s.drain]}": s.reason for s in results.skipped}
    out["machine"] = machine_info
    out["date"] = date
    out["commit"] = commit
    out["core"] = native.STATE  # the window core the workers ran (app/native.py)
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
