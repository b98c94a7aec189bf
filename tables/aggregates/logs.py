"""Log aggregate (LogAgg) per (service, host): requests by status class, lines by level, latency."""

from __future__ import annotations

from collections.abc import Sequence
from math import inf
from typing import Any, ClassVar, Self

from tables.aggregates.base import PERCENTILES, check_kind, inf_if_none, none_if_inf
from tables.sketch import DEFAULT_ALPHA, QuantileSketch

# The percentile keys of the latency and upstream sketches (p50, p95, p99), in result order.
_LATENCY_KEYS = ("latency_p50", "latency_p95", "latency_p99")
_UPSTREAM_KEYS = ("upstream_p50", "upstream_p95", "upstream_p99")
ERROR_LEVELS = frozenset({"error", "err", "crit", "critical", "alert", "emerg", "fatal", "panic"})
WARN_LEVELS = frozenset({"warn", "warning"})


class LogAgg:
    """Log aggregate per (service, host): requests by status class, log lines by level, latency.

    ``log_lines`` counts ``add_line`` calls only (error and app log lines), not requests.
    """

    KIND: ClassVar[str] = "l"
    _COUNTS: ClassVar[tuple[str, ...]] = (
        "requests",
        "s2xx",
        "s3xx",
        "s4xx",
        "s5xx",
        "other",
        "bytes",
        "log_lines",
        "error_lines",
        "warn_lines",
    )
    __slots__ = (*_COUNTS, "first_ts", "last_ts", "latency", "upstream")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.requests = 0
        self.s2xx = 0
        self.s3xx = 0
        self.s4xx = 0
        self.s5xx = 0
        self.other = 0
        self.bytes = 0
        self.log_lines = 0
        self.error_lines = 0
        self.warn_lines = 0
        self.first_ts: float = inf
        self.last_ts: float = -inf
        self.latency = QuantileSketch(alpha)
        self.upstream: QuantileSketch | None = None

    def add_request(
        self,
        status: int,
        bytes: int,
        request_time: float | None,
        ts: float,
        upstream_time: float | None = None,
    ) -> None:
        """Count one access-log request; times are in seconds, None when the log lacks them."""
        if request_time is not None:
            self.latency.add(request_time)
        if upstream_time is not None:
            if self.upstream is None:
                self.upstream = QuantileSketch(self.latency.alpha)
            self.upstream.add(upstream_time)
        self.requests += 1
        self.bytes += bytes
        if status < 400:
            if status >= 300:
                self.s3xx += 1
            elif status >= 200:
                self.s2xx += 1
            else:
                self.other += 1
        elif status < 500:
            self.s4xx += 1
        elif status < 600:
            self.s5xx += 1
        else:
            self.other += 1
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts

    def add_line(self, level: str, ts: float) -> None:
        """Count one error-log or app-log line by level (case-insensitive)."""
        self.log_lines += 1
        lvl = level.lower()
        if lvl in ERROR_LEVELS:
            self.error_lines += 1
        elif lvl in WARN_LEVELS:
            self.warn_lines += 1
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts

    def merge(self, other: LogAgg) -> Self:
        """Merge ``other`` into self (in place) and return self."""
        check_kind(self, other)
        self.latency.merge(other.latency)
        if other.upstream is not None:
            if self.upstream is None:
                self.upstream = QuantileSketch(self.latency.alpha)
            self.upstream.merge(other.upstream)
        self._add_counts(other)
        return self

    def _add_counts(self, other: LogAgg) -> None:
        """Add ``other``'s counts and time span to self's (the ``_COUNTS``, written out: no
        attribute lookups by name on the hot path of merges)."""
        self.requests += other.requests
        self.s2xx += other.s2xx
        self.s3xx += other.s3xx
        self.s4xx += other.s4xx
        self.s5xx += other.s5xx
        self.other += other.other
        self.bytes += other.bytes
        self.log_lines += other.log_lines
        self.error_lines += other.error_lines
        self.warn_lines += other.warn_lines
        if other.first_ts < self.first_ts:
            self.first_ts = other.first_ts
        if other.last_ts > self.last_ts:
            self.last_ts = other.last_ts

    def copy(self) -> LogAgg:
        """An independent copy."""
        new = LogAgg(self.latency.alpha)  # a plain constructor (native build)
        new._add_counts(self)  # onto zeros and an empty time span: the same values
        new.latency = self.latency.copy()
        new.upstream = None if self.upstream is None else self.upstream.copy()
        return new

    @classmethod
    def merged_counts(cls, aggs: Sequence[LogAgg]) -> LogAgg:
        """The merge of ``aggs`` without their latency sketches (left empty): for a reader
        whose keys need no percentile (see :meth:`result`), at a fraction of the cost."""
        new = cls(aggs[0].latency.alpha)
        for a in aggs:
            new._add_counts(a)
        return new

    @classmethod
    def merged(cls, aggs: Sequence[LogAgg]) -> LogAgg:
        """A new aggregate equal to copying ``aggs[0]`` and merging the others into it, with
        each sketch summed in one pass (:meth:`QuantileSketch.merged`) instead of a copy and
        one merge per part."""
        for a in aggs[1:]:
            check_kind(aggs[0], a)
        new = cls.merged_counts(aggs)
        new.latency = QuantileSketch.merged([a.latency for a in aggs])
        upstream = [a.upstream for a in aggs if a.upstream is not None]
        if upstream:
            new.upstream = QuantileSketch.merged(upstream)
        return new

    @staticmethod
    def needs_sketches(keys: frozenset[str] | None) -> bool:
        """Whether a reader of ``keys`` (None: all) reads a latency or upstream percentile."""
        return keys is None or any(k.startswith(("latency", "upstream")) for k in keys)

    def result(
        self, window_seconds: float | None = None, *, keys: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """Counts, error_rate, client_error_rate, latency and upstream p50/p95/p99, req_rate.

        error_rate is s5xx / requests, else error_lines / log_lines, else 0.0 (for dashboards);
        http_error_rate is s5xx / requests and log_error_rate error_lines / log_lines, each None
        without its denominator (for alerts); req_rate is requests / window_seconds.
        """
        if window_seconds is not None and not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
        req = self.requests
        if req:
            error_rate = self.s5xx / req
        elif self.log_lines:
            error_rate = self.error_lines / self.log_lines
        else:
            error_rate = 0.0
        out: dict[str, Any] = {  # the _COUNTS, in order
            "requests": req,
            "s2xx": self.s2xx,
            "s3xx": self.s3xx,
            "s4xx": self.s4xx,
            "s5xx": self.s5xx,
            "other": self.other,
            "bytes": self.bytes,
            "log_lines": self.log_lines,
            "error_lines": self.error_lines,
            "warn_lines": self.warn_lines,
        }
        out["error_rate"] = error_rate
        # Unmixed rates for alerting: a window holding app-log lines but no requests yet (the
        # topics progress separately) must not read as an HTTP error rate.
        out["http_error_rate"] = self.s5xx / req if req else None
        out["log_error_rate"] = self.error_lines / self.log_lines if self.log_lines else None
        out["client_error_rate"] = self.s4xx / req if req else 0.0
        out["req_rate"] = req / window_seconds if window_seconds else None
        for prefix, names, sketch in (
            ("latency", _LATENCY_KEYS, self.latency),
            ("upstream", _UPSTREAM_KEYS, self.upstream),
        ):
            if keys is not None and not any(k.startswith(prefix) for k in keys):
                continue  # a reader that needs none of these percentiles (alert evaluation)
            qs = sketch.quantiles(PERCENTILES) if sketch else [None] * 3
            for name, v in zip(names, qs, strict=True):
                out[name] = v
        out["first_ts"] = none_if_inf(self.first_ts)
        out["last_ts"] = none_if_inf(self.last_ts)
        return out

    def to_state(self) -> list[Any]:
        """The ten counts in ``_COUNTS`` order, first_ts, last_ts, latency and upstream sketch
        states (upstream None when never seen)."""
        return [
            self.requests,
            self.s2xx,
            self.s3xx,
            self.s4xx,
            self.s5xx,
            self.other,
            self.bytes,
            self.log_lines,
            self.error_lines,
            self.warn_lines,
            none_if_inf(self.first_ts),
            none_if_inf(self.last_ts),
            self.latency.to_state(),
            None if self.upstream is None else self.upstream.to_state(),
        ]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> LogAgg:
        """Rebuild from ``to_state()`` output."""
        *counts, first_ts, last_ts, latency, upstream = state
        agg = cls()  # every field is set below
        for name, value in zip(cls._COUNTS, counts, strict=True):
            setattr(agg, name, value)
        agg.first_ts = inf_if_none(first_ts, inf)
        agg.last_ts = inf_if_none(last_ts, -inf)
        agg.latency = QuantileSketch.from_state(latency)
        agg.upstream = None if upstream is None else QuantileSketch.from_state(upstream)
        return agg
