"""Alert rules: the rule model, its checks, and which series a rule reads (pure).

A :class:`Rule` reads one aggregate of the window results of the series it selects
(:func:`select`); :func:`alerting.observation.observe` turns a window result into an
observation for the state machine in :mod:`alerting.state`. One alert instance exists per
(rule, identifying label set, :func:`alert_labels`); label matchers are in
:mod:`alerting.labels`, annotation templates in :mod:`alerting.annotations`.

Kinds:

* ``threshold``: ``aggregate <op> threshold`` (e.g. ``error_rate > 0.05``).
* ``rate_of_change``: the change of the aggregate per minute between consecutive windows of the
  series, compared with ``threshold`` (``> 5`` rises faster than 5 per minute, ``< -5`` falls
  faster than 5 per minute).
* ``anomaly``: the z-score of the aggregate against a per-series EWMA baseline
  (:mod:`alerting.anomaly`); ``threshold`` is the number of deviations, ``direction`` says which
  side counts (``both``, ``up``, ``down``); no verdict before ``min_history`` windows; with
  ``min_change`` (a fraction) a change smaller than that share of the baseline never fires.
* ``absence``: no data from a host for ``absent_for_s`` seconds (host down), judged on a
  wall-clock tick by :func:`alerting.state.step_absence`, not by ``observe``.
* ``new_pattern`` (``source: pattern`` only): a pattern first seen in the window, at least
  ``learning_s`` after the service's first line, with an aggregate (count, errors) of at least
  ``threshold`` in the window; otherwise the pattern reads 0 (recovered).

Sources: ``metric`` (Telegraf series), ``log`` (log aggregates per (service, host)) and
``pattern`` (log lines per (service, host, pattern_id), :mod:`alerting.patterns`): every kind but
absence works on pattern counts, always on closed windows.

Which windows to feed (:attr:`Rule.evaluate`): ``open`` rules are evaluated each time the open
window they read changes (the lead passes the host's latest event time); ``closed`` rules only
on final records of closed windows (event time = window end). Rate of change and anomaly always
use closed windows; so do aggregates that grow with the window (count, sum, increase,
requests, error_lines, req_rate, ...), because a partly filled window undercounts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from math import isfinite
from typing import Any

from alerting.labels import Matcher, RuleInvalid, matches_all
from app.config_errors import closest
from tables.windows import HOPPING, TUMBLING


class RuleKind(StrEnum):
    """What a rule looks for."""

    THRESHOLD = "threshold"
    ABSENCE = "absence"
    RATE_OF_CHANGE = "rate_of_change"
    ANOMALY = "anomaly"
    NEW_PATTERN = "new_pattern"


class Source(StrEnum):
    """Which series a rule reads: Telegraf metrics, log aggregates per (service, host), or log
    lines per (service, host, pattern)."""

    METRIC = "metric"
    LOG = "log"
    PATTERN = "pattern"


class Comparison(StrEnum):
    """How the score is compared with the threshold."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


class NoData(StrEnum):
    """What an observation without a value does (Grafana's "no data" options)."""

    KEEP = "keep"  # keep the current state, timers do not advance (default)
    OK = "ok"  # counts as recovered
    ALERTING = "alerting"  # counts as the firing condition


class Direction(StrEnum):
    """Which side of the baseline counts for an anomaly rule."""

    BOTH = "both"
    UP = "up"
    DOWN = "down"


class Evaluate(StrEnum):
    """Which window results a rule is evaluated on."""

    OPEN = "open"
    CLOSED = "closed"


WINDOW_KINDS = (TUMBLING, HOPPING)
GAUGE_AGGREGATES = frozenset({"count", "sum", "min", "max", "mean", "last", "p50", "p95", "p99"})
COUNTER_AGGREGATES = frozenset(
    {"samples", "resets", "increase", "rate", "intervals"}
    | {"rate_min", "rate_max", "rate_mean", "rate_p95"}
)
LOG_AGGREGATES = frozenset(
    {"requests", "s2xx", "s3xx", "s4xx", "s5xx", "other", "bytes"}
    | {"log_lines", "error_lines", "warn_lines", "error_rate", "client_error_rate", "req_rate"}
    | {"http_error_rate", "log_error_rate"}
    | {f"{p}_{q}" for p in ("latency", "upstream") for q in ("p50", "p95", "p99")}
)
PATTERN_AGGREGATES = frozenset({"count", "errors", "rate", "error_share", "share"})
# Aggregates that grow while a window fills: judged on closed windows only by default.
EXTENSIVE_AGGREGATES = frozenset(
    {"count", "sum", "samples", "resets", "increase", "intervals", "req_rate", "errors"}
    | {"requests", "s2xx", "s3xx", "s4xx", "s5xx", "other", "bytes"}
    | {"log_lines", "error_lines", "warn_lines"}
)
LOG_LABELS = ("service", "host")
PATTERN_LABELS = ("service", "host", "pattern_id")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule (see the module docstring for the kinds). Times are seconds."""

    name: str
    kind: RuleKind = RuleKind.THRESHOLD
    source: Source = Source.METRIC
    measurement: str | None = None
    field: str | None = None
    matchers: tuple[Matcher, ...] = ()
    aggregate: str = "mean"
    window: str = TUMBLING
    window_size_s: float | None = None
    op: Comparison = Comparison.GT
    threshold: float = 0.0
    recovery: float | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: str = "warning"
    labels: dict[str, str] = dc_field(default_factory=dict)
    annotations: dict[str, str] = dc_field(default_factory=dict)
    no_data: NoData = NoData.KEEP
    evaluate: Evaluate | None = None
    absent_for_s: float = 60.0
    alpha: float = 0.1
    min_history: int = 10
    min_change: float = 0.0
    direction: Direction = Direction.BOTH
    min_samples: int = 0
    learning_s: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        for name, enum in (
            ("kind", RuleKind),
            ("source", Source),
            ("op", Comparison),
            ("no_data", NoData),
            ("direction", Direction),
        ):
            object.__setattr__(self, name, enum(getattr(self, name)))
        if self.evaluate is None:
            closed = self.kind in (RuleKind.RATE_OF_CHANGE, RuleKind.ANOMALY)
            closed = closed or self.source is Source.PATTERN
            closed = closed or self.aggregate in EXTENSIVE_AGGREGATES
            object.__setattr__(self, "evaluate", Evaluate.CLOSED if closed else Evaluate.OPEN)
        else:
            object.__setattr__(self, "evaluate", Evaluate(self.evaluate))
        problem = self.problem()
        if problem is not None:
            raise RuleInvalid(*problem)

    def _series_problem(
        self, what: str, aggregates: frozenset[str], labels: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """Problems of a log or pattern rule: no metric fields, its aggregates and labels."""
        if self.measurement or self.field:
            return "measurement", f"a {what} rule selects by {_and(labels)}: drop it"
        if self.aggregate not in aggregates:
            return "aggregate", _choices(self.aggregate, aggregates)
        bad = [m.label for m in self.matchers if m.label not in labels]
        if bad:
            quoted = _and([f"'{label}'" for label in labels])
            return "match", f"a {what} rule matches {quoted} only: drop {bad[0]!r}"
        return None

    def _pattern_problem(self) -> tuple[str, str] | None:
        problem = self._series_problem("pattern", PATTERN_AGGREGATES, PATTERN_LABELS)
        if problem is not None:
            return problem
        if self.evaluate is Evaluate.OPEN:
            return "evaluate", "pattern counts are judged on closed windows: drop it"
        if self.kind is RuleKind.NEW_PATTERN:
            if self.op is not Comparison.GE or not self.threshold >= 1:
                return "threshold", "a new_pattern rule fires at >= N lines, N >= 1 (e.g. 3)"
            if self.recovery is not None:
                return "recovery", "a new_pattern rule has no recovery: drop it"
            if self.aggregate not in ("count", "errors"):
                return "aggregate", "a new_pattern rule counts 'count' or 'errors' lines"
        return None

    def problem(self) -> tuple[str, str] | None:
        """The first inconsistency as ``(field, message with the fix)``, or None."""
        if not self.name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]*", self.name):
            return "name", "must start with a letter or _ and hold only letters, digits, _ . : -"
        if self.window not in WINDOW_KINDS:
            return "window", f"must be 'tumbling' or 'hopping' (given {self.window!r})"
        if self.min_samples < 0:
            return "min_samples", "must be >= 0"
        if self.min_change and self.kind is not RuleKind.ANOMALY:
            return "min_change", "only anomaly rules have min_change: drop it"
        if not (isfinite(self.min_change) and self.min_change >= 0):
            return "min_change", "must be a fraction >= 0 (e.g. 0.3 for 30%)"
        if self.learning_s and self.kind is not RuleKind.NEW_PATTERN:
            return "learning", "only new_pattern rules have a learning period: drop it"
        for name in ("for_s", "keep_firing_for_s", "absent_for_s", "learning_s"):
            value = getattr(self, name)
            if not (isfinite(value) and value >= 0):
                return name, f"must be a duration >= 0 (given {value!r})"
        if self.kind is RuleKind.ABSENCE:
            if self.absent_for_s <= 0:
                return "absent_for", "must be > 0 (e.g. 60s)"
            bad = [m.label for m in self.matchers if m.label != "host"]
            if bad:
                return "match", f"an absence rule matches hosts only: drop {bad[0]!r}"
            return None
        if self.kind is RuleKind.NEW_PATTERN and self.source is not Source.PATTERN:
            return "source", "a new_pattern rule reads pattern counts: use 'source: pattern'"
        if self.source is Source.METRIC:
            if not self.measurement:
                return "measurement", "a metric rule needs a measurement (e.g. cpu)"
            if not self.field:
                return "field", "a metric rule needs a field (e.g. usage_active)"
            if self.aggregate not in GAUGE_AGGREGATES | COUNTER_AGGREGATES:
                return "aggregate", _choices(self.aggregate, GAUGE_AGGREGATES | COUNTER_AGGREGATES)
        elif self.source is Source.PATTERN:
            problem = self._pattern_problem()
            if problem is not None:
                return problem
        else:
            problem = self._series_problem("log", LOG_AGGREGATES, LOG_LABELS)
            if problem is not None:
                return problem
        if not isfinite(self.threshold):
            return "threshold", "must be a finite number"
        if self.kind is RuleKind.ANOMALY:
            if self.evaluate is Evaluate.OPEN:
                return "evaluate", "an anomaly rule needs closed windows: drop it or use 'closed'"
            if not 0 < self.alpha <= 1:
                return "alpha", f"must be in (0, 1] (given {self.alpha!r})"
            if self.min_history < 1:
                return "min_history", "must be >= 1"
            if self.threshold <= 0:
                return "deviations", "must be > 0 (e.g. 3)"
            if self.recovery is not None and not 0 <= self.recovery <= self.threshold:
                return "recovery", "must be between 0 and 'deviations' (e.g. 2)"
            return None
        if self.kind is RuleKind.RATE_OF_CHANGE and self.evaluate is Evaluate.OPEN:
            return "evaluate", "a rate_of_change rule compares closed windows: use 'closed'"
        if self.recovery is not None:
            if not isfinite(self.recovery):
                return "recovery", "must be a finite number"
            above = self.op in (Comparison.GT, Comparison.GE)
            if above and self.recovery > self.threshold:
                return "recovery", f"must be <= threshold {self.threshold:g} for '{self.op}'"
            if not above and self.recovery < self.threshold:
                return "recovery", f"must be >= threshold {self.threshold:g} for '{self.op}'"
        return None


def _and(words: Sequence[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _choices(given: str, allowed: frozenset[str]) -> str:
    close = closest(given, sorted(allowed))
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"unknown {given!r}{hint}; one of {', '.join(sorted(allowed))}"


# ---- series and labels ---------------------------------------------------------------------


def series_labels(description: Mapping[str, Any]) -> dict[str, str]:
    """The identifying labels of a series (``describe_series`` output): tags, service+host, or
    service+host+pattern_id; and the host's ``tenant`` when the description carries it (it wins
    over a tag)."""
    typ = description.get("type")
    if typ in ("log", "pattern"):
        labels = {"service": str(description["service"]), "host": str(description["host"])}
        if "pattern_id" in description:
            labels["pattern_id"] = str(description["pattern_id"])
    elif typ == "host":
        labels = {"host": str(description["host"])}
    else:
        labels = {str(k): str(v) for k, v in (description.get("tags") or {}).items()}
    if description.get("tenant"):
        labels["tenant"] = str(description["tenant"])
    return labels


def select(rule: Rule, description: Mapping[str, Any]) -> bool:
    """True if ``rule`` reads the series ``description`` (``describe_series`` output)."""
    if not rule.enabled or rule.kind is RuleKind.ABSENCE:
        return False
    kind = description.get("type")
    if rule.source is Source.PATTERN:
        # pattern_id matchers are checked per pattern (alerting.patterns.pattern_views)
        if kind != "pattern":
            return False
        labels = series_labels(description)
        return matches_all(tuple(m for m in rule.matchers if m.label != "pattern_id"), labels)
    if rule.source is Source.LOG:
        if kind != "log":
            return False
    elif (
        kind != "metric"
        or description.get("measurement") != rule.measurement
        or description.get("field") != rule.field
    ):
        return False
    return matches_all(rule.matchers, series_labels(description))


def select_host(rule: Rule, host: str) -> bool:
    """True if the absence ``rule`` watches ``host``."""
    if not rule.enabled or rule.kind is not RuleKind.ABSENCE:
        return False
    return matches_all(rule.matchers, {"host": host})


def alert_labels(rule: Rule, description: Mapping[str, Any]) -> dict[str, str]:
    """Alert labels: the series labels, then the rule's labels, then alertname and severity."""
    labels = series_labels(description)
    labels.update(rule.labels)
    labels["alertname"] = rule.name
    labels["severity"] = rule.severity
    return labels


# ---- description ---------------------------------------------------------------------------


def expression(rule: Rule) -> str:
    """A one-line, PromQL-flavoured text of what the rule computes (for humans and BI)."""
    sel = ",".join(str(m) for m in rule.matchers)
    if rule.kind is RuleKind.ABSENCE:
        return f"absent(host{{{sel}}}) for {rule.absent_for_s:g}s"
    what = f"{rule.measurement}.{rule.field}" if rule.source is Source.METRIC else rule.source
    base = f"{rule.aggregate}({what}{{{sel}}}) over {rule.window}"
    guard = f" with samples >= {rule.min_samples}" if rule.min_samples else ""
    if rule.kind is RuleKind.NEW_PATTERN:
        learning = f" after {rule.learning_s:g}s of learning" if rule.learning_s else ""
        return f"new_pattern({base}){learning} >= {rule.threshold:g}{guard}"
    if rule.kind is RuleKind.RATE_OF_CHANGE:
        return f"rate_of_change({base}) per minute {rule.op} {rule.threshold:g}{guard}"
    if rule.kind is RuleKind.ANOMALY:
        side = "|z|" if rule.direction is Direction.BOTH else f"z {rule.direction}"
        change = f" and change >= {rule.min_change:.0%}" if rule.min_change else ""
        return (
            f"anomaly({base}, alpha={rule.alpha:g}, min_history={rule.min_history}) "
            f"{side} >= {rule.threshold:g} deviations{change}{guard}"
        )
    return f"{base} {rule.op} {rule.threshold:g}{guard}"
