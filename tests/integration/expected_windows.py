"""Brute-force final windows from the Telegraf JSON a test sent, and the check of what came out.

The expectation is computed from the input alone (never from a run of the engine): every point
is put in each window that contains it, and each window's fields are computed from its list of
points the simplest way. Gauges: count, sum, min, max, mean, last, first_ts, last_ts exactly;
p50/p95/p99 within the sketch's bound (1 % relative) of the lower rank-based quantile (README,
Windows). Counters: samples, resets, increase, rate, intervals, rate_min/max/mean, first_ts,
last_ts, inexact exactly (the definitions of ``tables/aggregates/counter.py``: the increase
between consecutive samples, a drop counting the new value; one sample per timestamp and
windows under its 1000-sample compaction, as every test input here); rate_p95 within 1 %.
Sums and means are compared with a relative tolerance of 1e-9 (the engine adds pane by pane).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tables.sketch import DEFAULT_ALPHA, DEFAULT_MIN_VALUE

# (host, measurement, sorted tags, field, kind, start)
WindowKey = tuple[str, str, tuple[tuple[str, str], ...], str, str, int]
# (host, measurement, sorted tags, field): one series
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...], str]

APPROXIMATE = frozenset({"p50", "p95", "p99", "rate_p95"})
EXACT_FLOAT = frozenset({"sum", "mean", "increase", "rate", "rate_mean"})


@dataclass(frozen=True)
class Sizes:
    """Window sizes in seconds: tumbling, hopping size and step (all aligned to the epoch)."""

    tumbling: int
    hopping: int
    step: int

    def windows_of(self, t: float) -> Iterator[tuple[str, int]]:
        """(kind, start) of every window holding event time ``t``."""
        ts = int(t)
        yield "tumbling", ts - ts % self.tumbling
        first = ts - ts % self.step - self.hopping + self.step
        for start in range(first, ts + 1, self.step):
            yield "hopping", start


def points_of(values: Iterable[bytes]) -> Iterator[tuple[SeriesKey, float, float]]:
    """(series, event time, value) of every numeric field of every metric in Telegraf JSON
    messages (one metric, or ``{"metrics": [...]}``); timestamps are in seconds."""
    for value in values:
        doc = orjson.loads(value)
        for m in doc.get("metrics", [doc]):
            tags = dict(m.get("tags", {}))
            host = tags["host"]
            tag_key = tuple(sorted(tags.items()))
            for name, v in m["fields"].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    yield (host, m["name"], tag_key, name), float(m["timestamp"]), float(v)


def exact_lower(values: list[float], q: float) -> float:
    """The lower quantile the sketch promises: sorted element of rank floor(q * (n - 1))."""
    xs = sorted(values)
    return xs[math.floor(q * (len(xs) - 1))]


def gauge_fields(points: list[tuple[float, float]]) -> dict[str, Any]:
    """A gauge window from its (ts, value) points in arrival order."""
    vs = [v for _, v in points]
    last_ts = max(t for t, _ in points)
    return {
        "count": len(vs),
        "sum": sum(vs),
        "min": min(vs),
        "max": max(vs),
        "mean": sum(vs) / len(vs),
        "last": [v for t, v in points if t == last_ts][-1],
        "first_ts": min(t for t, _ in points),
        "last_ts": last_ts,
        "p50": exact_lower(vs, 0.5),
        "p95": exact_lower(vs, 0.95),
        "p99": exact_lower(vs, 0.99),
    }


def counter_fields(points: list[tuple[float, float]]) -> dict[str, Any]:
    """A counter window from its (ts, value) points (one per timestamp)."""
    samples = sorted(dict(points).items())
    increase, resets, rates = 0.0, 0, []
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        d = v1 - v0
        if d < 0:
            resets += 1
            d = v1
        increase += d
        rates.append(d / (t1 - t0))
    first, last = samples[0][0], samples[-1][0]
    enough = len(samples) >= 2
    return {
        "samples": len(samples),
        "resets": resets,
        "increase": increase if enough else None,
        "rate": increase / (last - first) if enough else None,
        "intervals": len(rates),
        "rate_min": min(rates) if rates else None,
        "rate_max": max(rates) if rates else None,
        "rate_mean": sum(rates) / len(rates) if rates else None,
        "rate_p95": exact_lower(rates, 0.95) if rates else None,
        "first_ts": first,
        "last_ts": last,
        "inexact": 0,
    }


def expected_finals(
    points: Iterable[tuple[SeriesKey, float, float]],
    sizes: Sizes,
    counters: frozenset[str] = frozenset(),
) -> dict[WindowKey, dict[str, Any]]:
    """Brute force: every window of every series with its fields; ``counters`` holds the
    ``measurement.field`` names that are counters."""
    held: dict[WindowKey, list[tuple[float, float]]] = defaultdict(list)
    for series, t, v in points:
        for kind, start in sizes.windows_of(t):
            held[(*series, kind, start)].append((t, v))
    return {
        key: (counter_fields if f"{key[1]}.{key[3]}" in counters else gauge_fields)(pts)
        for key, pts in held.items()
    }


def window_key(record: dict[str, Any]) -> WindowKey:
    """The brute-force key of a final record read from ``lookout.windows``."""
    labels = record["labels"]
    tags = tuple(sorted(labels["tags"].items()))
    return (
        record["host"],
        labels["measurement"],
        tags,
        labels["field"],
        record["kind"],
        record["start"],
    )


def within_bound(estimate: Any, exact: float, alpha: float = DEFAULT_ALPHA) -> bool:
    """|estimate - exact| <= alpha * |exact| (a rounding's slack), or near zero when exact is."""
    if estimate is None:
        return False
    if abs(exact) <= DEFAULT_MIN_VALUE:
        return bool(abs(estimate - exact) <= DEFAULT_MIN_VALUE)
    return bool(abs(estimate - exact) <= alpha * abs(exact) * (1 + 1e-9))


def field_matches(name: str, got: Any, want: Any) -> bool:
    """One field of a final against the brute force (see the module docstring for how)."""
    if want is None or got is None:
        return got is want
    if name in APPROXIMATE:
        return within_bound(got, want)
    if name in EXACT_FLOAT:
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(got == want)


@dataclass
class Outcome:
    """Final records compared with the brute force."""

    expected: int
    received: int = 0
    duplicates: int = 0  # re-emits identical to the first copy (the README allows them)
    differing: list[str] = field(default_factory=list)  # ids re-emitted with another value
    missing: list[WindowKey] = field(default_factory=list)
    extra: list[WindowKey] = field(default_factory=list)
    wrong: list[tuple[WindowKey, dict[str, Any]]] = field(default_factory=list)

    def problems(self) -> str:
        """Empty when every expected window came exactly right; else what went wrong."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing, e.g. {self.missing[:5]}")
        if self.extra:
            parts.append(f"{len(self.extra)} unexpected, e.g. {self.extra[:5]}")
        if self.differing:
            parts.append(f"{len(self.differing)} re-emitted differently: {self.differing[:3]}")
        if self.wrong:
            parts.append(f"{len(self.wrong)} differ from the brute force, e.g. {self.wrong[:3]}")
        return "; ".join(parts)

    def summary(self) -> str:
        """One line for the test log."""
        return (
            f"{self.expected} final windows expected, {self.received} records received "
            f"({self.duplicates} identical re-emits), {len(self.missing)} missing, "
            f"{len(self.extra)} unexpected, {len(self.wrong)} wrong, "
            f"{len(self.differing)} re-emitted differently"
        )


def compare(
    records: Iterable[dict[str, Any]],
    want: dict[WindowKey, dict[str, Any]],
    ignore: Any = None,
) -> Outcome:
    """Check final records against the brute force; ``ignore(key)`` true skips a record (e.g.
    a series only the test's closing records belong to)."""
    out = Outcome(expected=len(want))
    first: dict[str, bytes] = {}
    got: dict[WindowKey, dict[str, Any]] = {}
    for r in records:
        out.received += 1
        rest = {k: v for k, v in r.items() if k != "closed_at"}
        body = orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)
        if r["id"] in first:
            if first[r["id"]] == body:
                out.duplicates += 1
            else:
                out.differing.append(r["id"].replace("\x1f", "|"))
            continue
        first[r["id"]] = body
        key = window_key(r)
        if ignore is None or not ignore(key):
            got[key] = r["value"]
    out.missing = sorted(set(want) - set(got))
    out.extra = sorted(set(got) - set(want))
    for key, fields in want.items():
        value = got.get(key)
        if value is None:
            continue
        bad = {
            k: (value.get(k), v) for k, v in fields.items() if not field_matches(k, value.get(k), v)
        }
        if bad:
            out.wrong.append((key, bad))
    return out
