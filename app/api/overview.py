"""What the live page shows: headline values per host and service, each with its last windows.

Pure (standard library and the pure core). A worker builds :func:`host_overview` for each host
it owns from the open window (``WindowEngine.current``) and the last closed windows (final
records); the worker that was asked merges every worker's hosts and derives the services with
:func:`service_overview`. A headline's ``points`` are ``[window start, value]`` pairs, oldest
first: the closed windows, then the open one (whose start is the host's ``start``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tables.series import describe_series


@dataclass(frozen=True, slots=True)
class Headline:
    """One number shown per host: ``value`` of the series ``measurement``/``field`` (+ tags)."""

    key: str
    label: str
    unit: str
    measurement: str
    field: str
    value: str
    tags: tuple[tuple[str, str], ...] = ()
    combine: str = "first"  # "first" series (sorted by id) or the "sum" of all that match

    def matches(self, labels: Mapping[str, Any]) -> bool:
        """True when a series with these labels feeds this headline."""
        return (
            labels.get("type") == "metric"
            and labels.get("measurement") == self.measurement
            and labels.get("field") == self.field
            and all(labels.get("tags", {}).get(k) == v for k, v in self.tags)
        )


HEADLINES = (
    Headline("cpu", "CPU", "%", "cpu", "usage_active", "mean", (("cpu", "cpu-total"),)),
    Headline("mem", "memory", "%", "mem", "used_percent", "mean"),
    Headline("disk", "disk /", "%", "disk", "used_percent", "last", (("path", "/"),)),
    Headline("load", "load 1m", "", "system", "load1", "mean"),
    Headline("net_in", "net in", "B/s", "net", "bytes_recv", "rate", combine="sum"),
    Headline("net_out", "net out", "B/s", "net", "bytes_sent", "rate", combine="sum"),
)
LOG_COUNTS = ("requests", "s5xx", "error_lines", "log_lines")


@lru_cache(maxsize=65536)
def role(sid: str) -> tuple[str, str] | None:
    """``("metric", headline key)``, ``("log", service)`` or None for a series the page skips."""
    labels = describe_series(sid)
    if labels["type"] == "log":
        return "log", labels["service"]
    for h in HEADLINES:
        if h.matches(labels):
            return "metric", h.key
    return None


def error_rate(requests: float, s5xx: float, error_lines: float, log_lines: float) -> float:
    """5xx share of requests, else error share of log lines, else 0 (as the window engine)."""
    if requests:
        return s5xx / requests
    if log_lines:
        return error_lines / log_lines
    return 0.0


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _combine(headline: Headline, values: Iterable[Any]) -> float | None:
    found = [v for v in (_finite(x) for x in values) if v is not None]
    if not found:
        return None
    return sum(found) if headline.combine == "sum" else found[0]


def _log_point(value: Mapping[str, Any]) -> dict[str, Any]:
    counts = {k: _finite(value.get(k)) or 0.0 for k in LOG_COUNTS}
    return {
        **counts,
        "error_rate": error_rate(*(counts[k] for k in LOG_COUNTS)),
        "latency_p95": _finite(value.get("latency_p95")),
    }


def host_overview(
    host: str,
    current: Mapping[str, Any],
    closed: Mapping[str, Sequence[Mapping[str, Any]]],
    watermark: float | None,
) -> dict[str, Any]:
    """One host: its headlines and services over the closed windows and the open one.

    ``current`` is ``tables.queries.current_window(engine, host, kind)`` (``start``, ``end``,
    ``series``); ``closed`` maps a series id to its final records (``start``, ``value``) of the
    same kind.
    """
    series: Mapping[str, Any] = current.get("series", {})
    start = current.get("start")
    by_role: dict[tuple[str, str], list[str]] = {}
    for sid in sorted({*series, *closed}):
        r = role(sid)
        if r is not None:
            by_role.setdefault(r, []).append(sid)

    metrics: list[dict[str, Any]] = []
    for h in HEADLINES:
        sids = by_role.get(("metric", h.key), [])
        if not sids:
            continue
        starts = sorted({rec["start"] for sid in sids for rec in closed.get(sid, ())})
        points = []
        for s in starts:
            vals = [
                rec["value"].get(h.value)
                for sid in sids
                for rec in closed.get(sid, ())
                if rec["start"] == s
            ]
            value = _combine(h, vals)
            if value is not None and s != start:
                points.append([s, value])
        now = _combine(h, (series[sid].get(h.value) for sid in sids if sid in series))
        if now is not None and start is not None:
            points.append([start, now])
        metrics.append(
            {"key": h.key, "label": h.label, "unit": h.unit, "value": now, "points": points[-12:]}
        )

    services: list[dict[str, Any]] = []
    for (kind, service), sids in sorted(by_role.items()):
        if kind != "log":
            continue
        (sid,) = sids  # one log series per (service, host)
        history = [
            {"start": rec["start"], **_log_point(rec["value"])}
            for rec in sorted(closed.get(sid, ()), key=lambda r: r["start"])
            if rec["start"] != start
        ]
        latest = _log_point(series[sid]) if sid in series else None
        if latest is not None:
            history.append({"start": start, **latest})
        services.append({"service": service, "now": latest, "points": history[-12:]})

    totals = [s["now"] for s in services if s["now"] is not None]
    sums = {k: sum(t[k] for t in totals) for k in LOG_COUNTS}
    return {
        "host": host,
        "start": start,
        "end": current.get("end"),
        "watermark": _finite(watermark),
        "metrics": metrics,
        "services": services,
        "requests": sums["requests"],
        "error_rate": error_rate(*(sums[k] for k in LOG_COUNTS)),
    }


def service_overview(hosts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Services across hosts: summed counts and error rate, now and per window start."""
    by_service: dict[str, dict[str, Any]] = {}
    for h in hosts:
        for svc in h.get("services", ()):
            agg = by_service.setdefault(
                svc["service"],
                {"hosts": [], "now": dict.fromkeys(LOG_COUNTS, 0.0), "p95": [], "by_start": {}},
            )
            agg["hosts"].append(h["host"])
            if svc["now"] is not None:
                for k in LOG_COUNTS:
                    agg["now"][k] += svc["now"][k]
                if svc["now"]["latency_p95"] is not None:
                    agg["p95"].append(svc["now"]["latency_p95"])
            for p in svc["points"]:
                slot = agg["by_start"].setdefault(p["start"], dict.fromkeys(LOG_COUNTS, 0.0))
                for k in LOG_COUNTS:
                    slot[k] += p[k]
    out = []
    for name in sorted(by_service):
        agg = by_service[name]
        now = agg["now"]
        points = [
            [start, error_rate(*(slot[k] for k in LOG_COUNTS))]
            for start, slot in sorted(agg["by_start"].items())
        ]
        out.append(
            {
                "service": name,
                "hosts": sorted(agg["hosts"]),
                "requests": now["requests"],
                "s5xx": now["s5xx"],
                "error_rate": error_rate(*(now[k] for k in LOG_COUNTS)),
                "latency_p95": max(agg["p95"]) if agg["p95"] else None,
                "points": points[-12:],
            }
        )
    return out
