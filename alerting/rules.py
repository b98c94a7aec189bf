"""Alert rules and their evaluation on window results (pure: standard library and siblings).

A :class:`Rule` reads one aggregate of the window results of the series it selects and turns
it into an :class:`Observation` (value, score, :class:`Condition`) for the state machine in
:mod:`alerting.state`. One alert instance exists per (rule, identifying label set); its
:func:`fingerprint` is a short stable hash of the alert labels.

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
  wall-clock tick by :func:`alerting.state.step_absence`, not by :func:`observe`.

``min_samples``: a window result holding fewer values (gauge count, counter samples, log
requests or else lines) counts as no data, so a handful of requests at the start of a window or
of a stream cannot fire a ratio rule.

Hysteresis: with a ``recovery`` threshold, a score that breaches ``threshold`` is
:attr:`Condition.FIRING`, one on the far side of ``recovery`` is :attr:`Condition.RECOVERED`,
and one in between is :attr:`Condition.HOLD` (the state machine keeps its current state).

Matchers follow Prometheus: ``=``, ``!=``, ``=~``, ``!~``; regular expressions are fully
anchored (``host=~"web-.*"`` does not match ``my-web-1``); a label the series does not have
counts as the empty string (so ``path!="/boot"`` matches a series without ``path``).

Which windows to feed (:attr:`Rule.evaluate`): ``open`` rules are evaluated each time the open
window they read changes (the lead passes the host's latest event time); ``closed`` rules only
on final records of closed windows (event time = window end). Rate of change and anomaly always
use closed windows; so do aggregates that grow with the window (count, sum, increase,
requests, error_lines, req_rate, ...), because a partly filled window undercounts them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import UTC, datetime
from enum import StrEnum
from math import isfinite
from string import Formatter
from typing import Any

from alerting.anomaly import DEFAULT_REL_FLOOR, Ewma
from tables.windows import HOPPING, TUMBLING


class RuleKind(StrEnum):
    """What a rule looks for."""

    THRESHOLD = "threshold"
    ABSENCE = "absence"
    RATE_OF_CHANGE = "rate_of_change"
    ANOMALY = "anomaly"


class Source(StrEnum):
    """Which series a rule reads: Telegraf metrics or log aggregates per (service, host)."""

    METRIC = "metric"
    LOG = "log"


class Comparison(StrEnum):
    """How the score is compared with the threshold."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


class MatchOp(StrEnum):
    """Label matcher operators (Prometheus / Alertmanager)."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class Condition(StrEnum):
    """What one observation says about the alert condition."""

    FIRING = "firing"  # the firing condition holds
    RECOVERED = "recovered"  # clear of the recovery threshold (or of the threshold without one)
    HOLD = "hold"  # in the hysteresis band: keep the current state
    NO_DATA = "no_data"  # the aggregate has no value in this window
    LEARNING = "learning"  # not enough history yet (anomaly, rate of change): keep the state


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
# Aggregates that grow while a window fills: judged on closed windows only by default.
EXTENSIVE_AGGREGATES = frozenset(
    {"count", "sum", "samples", "resets", "increase", "intervals", "req_rate"}
    | {"requests", "s2xx", "s3xx", "s4xx", "s5xx", "other", "bytes"}
    | {"log_lines", "error_lines", "warn_lines"}
)
LOG_LABELS = ("service", "host")
TEMPLATE_FIELDS = frozenset(
    {"rule", "severity", "value", "score", "threshold", "recovery", "baseline", "aggregate"}
    | {"window", "kind", "down_at", "up_at", "duration"}
)

_OPS: dict[Comparison, Callable[[float, float], bool]] = {
    Comparison.GT: operator.gt,
    Comparison.GE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LE: operator.le,
}


class RuleInvalid(ValueError):
    """A rule is inconsistent; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, e.g. ``Matcher("host", MatchOp.RE, "web-.*")``."""

    label: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = dc_field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", MatchOp(self.op))
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                problem = f"bad regular expression {self.value!r}: {exc}"
                raise RuleInvalid(self.label, problem) from None

    @classmethod
    def parse(cls, label: str, spec: str) -> Matcher:
        """``"web-1"`` (equality), ``"=x"``, ``"!=x"``, ``"=~re"`` or ``"!~re"``."""
        for op in (MatchOp.RE, MatchOp.NRE, MatchOp.NE, MatchOp.EQ):
            if spec.startswith(op.value):
                return cls(label, op, spec[len(op.value) :])
        return cls(label, MatchOp.EQ, spec)

    def matches(self, value: str | None) -> bool:
        """True if the label value (None: the series lacks the label, taken as "") matches."""
        text = "" if value is None else value
        if self.op is MatchOp.EQ:
            return text == self.value
        if self.op is MatchOp.NE:
            return text != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(text) is not None
        return found if self.op is MatchOp.RE else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op.value}{json.dumps(self.value)}"


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """True if every matcher matches ``labels`` (an empty list matches everything)."""
    return all(m.matches(labels.get(m.label)) for m in matchers)


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
            closed = closed or self.aggregate in EXTENSIVE_AGGREGATES
            object.__setattr__(self, "evaluate", Evaluate.CLOSED if closed else Evaluate.OPEN)
        else:
            object.__setattr__(self, "evaluate", Evaluate(self.evaluate))
        problem = self.problem()
        if problem is not None:
            raise RuleInvalid(*problem)

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
        for name in ("for_s", "keep_firing_for_s", "absent_for_s"):
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
        if self.source is Source.METRIC:
            if not self.measurement:
                return "measurement", "a metric rule needs a measurement (e.g. cpu)"
            if not self.field:
                return "field", "a metric rule needs a field (e.g. usage_active)"
            if self.aggregate not in GAUGE_AGGREGATES | COUNTER_AGGREGATES:
                return "aggregate", _choices(self.aggregate, GAUGE_AGGREGATES | COUNTER_AGGREGATES)
        else:
            if self.measurement or self.field:
                return "measurement", "a log rule selects by service and host: drop it"
            if self.aggregate not in LOG_AGGREGATES:
                return "aggregate", _choices(self.aggregate, LOG_AGGREGATES)
            bad = [m.label for m in self.matchers if m.label not in LOG_LABELS]
            if bad:
                return "match", f"a log rule matches 'service' and 'host' only: drop {bad[0]!r}"
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


def _choices(given: str, allowed: frozenset[str]) -> str:
    close = difflib.get_close_matches(given, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {given!r}{hint}; one of {', '.join(sorted(allowed))}"


# ---- series and labels ---------------------------------------------------------------------


def series_labels(description: Mapping[str, Any]) -> dict[str, str]:
    """The identifying labels of a series (``describe_series`` output): tags, or service+host."""
    if description.get("type") == "log":
        return {"service": str(description["service"]), "host": str(description["host"])}
    if description.get("type") == "host":
        return {"host": str(description["host"])}
    return {str(k): str(v) for k, v in (description.get("tags") or {}).items()}


def select(rule: Rule, description: Mapping[str, Any]) -> bool:
    """True if ``rule`` reads the series ``description`` (``describe_series`` output)."""
    if not rule.enabled or rule.kind is RuleKind.ABSENCE:
        return False
    kind = description.get("type")
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


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit hash of a label set (order-independent, same in every process)."""
    canon = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


# ---- observation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """What rate-of-change and anomaly rules remember of a series between windows."""

    prev_value: float | None = None
    prev_time: float | None = None
    ewma: Ewma | None = None

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        return {
            "v": self.prev_value,
            "t": self.prev_time,
            "e": None if self.ewma is None else self.ewma.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> SeriesHistory:
        """Rebuild from :meth:`to_state` output (None: empty history)."""
        if not state:
            return cls()
        e = state.get("e")
        return cls(state.get("v"), state.get("t"), None if e is None else Ewma.from_state(e))


@dataclass(frozen=True, slots=True)
class Observation:
    """One evaluation of a rule on one series at ``event_time``; input of ``alert_state.step``.

    ``value`` is the aggregate, ``score`` what was compared (the value, the change per minute,
    or the z-score), ``history`` the series history to keep if the observation is applied.
    """

    rule: Rule
    labels: dict[str, str]
    fingerprint: str
    event_time: float
    value: float | None
    score: float | None
    condition: Condition
    baseline: float | None = None
    history: SeriesHistory = dc_field(default_factory=SeriesHistory)


def _number(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if isfinite(value) else None


def sample_count(result: Mapping[str, Any]) -> int | None:
    """How many values a window result holds: count (gauges), samples (counters), requests
    (else log lines) for logs; None if the result says nothing about it."""
    for key in ("count", "samples"):
        if isinstance(result.get(key), int):
            return int(result[key])
    if isinstance(result.get("requests"), int):
        return int(result["requests"]) or int(result.get("log_lines") or 0)
    return None


def classify(rule: Rule, score: float) -> Condition:
    """FIRING, HOLD (hysteresis band) or RECOVERED for a score of a threshold-like rule."""
    if rule.kind is RuleKind.ANOMALY:
        if rule.direction is Direction.UP:
            dev = score
        elif rule.direction is Direction.DOWN:
            dev = -score
        else:
            dev = abs(score)
        if dev >= rule.threshold:
            return Condition.FIRING
        if rule.recovery is not None and dev > rule.recovery:
            return Condition.HOLD
        return Condition.RECOVERED
    if _OPS[rule.op](score, rule.threshold):
        return Condition.FIRING
    if rule.recovery is not None:
        strictly = operator.gt if rule.op in (Comparison.GT, Comparison.GE) else operator.lt
        if strictly(score, rule.recovery):
            return Condition.HOLD
    return Condition.RECOVERED


def observe(
    rule: Rule,
    result: Mapping[str, Any] | None,
    description: Mapping[str, Any],
    event_time: float,
    history: SeriesHistory | None = None,
) -> Observation:
    """Evaluate ``rule`` on one series' window ``result`` (None: the series has no result).

    ``description`` is the series' ``describe_series`` output; ``history`` the one kept in the
    alert state (``AlertState.history``). Pure: the updated history is in the observation.
    """
    if rule.kind is RuleKind.ABSENCE:
        raise ValueError(f"rule {rule.name!r} is an absence rule: use alert_state.step_absence")
    labels = alert_labels(rule, description)
    fp = fingerprint(labels)
    hist = history or SeriesHistory()
    value = None if result is None else _number(result.get(rule.aggregate))
    if value is not None and rule.min_samples and result is not None:
        count = sample_count(result)
        if count is not None and count < rule.min_samples:
            value = None  # too few values for a verdict: no data

    def obs(score: float | None, cond: Condition, **kw: Any) -> Observation:
        return Observation(rule, labels, fp, event_time, value, score, cond, **kw)

    if value is None:
        return obs(None, Condition.NO_DATA, history=hist)
    if rule.kind is RuleKind.THRESHOLD:
        return obs(value, classify(rule, value), history=hist)
    if rule.kind is RuleKind.RATE_OF_CHANGE:
        prev_v, prev_t = hist.prev_value, hist.prev_time
        if prev_t is not None and event_time <= prev_t:
            return obs(None, Condition.LEARNING, history=hist)  # stale: the state ignores it
        new = replace(hist, prev_value=value, prev_time=event_time)
        if prev_v is None or prev_t is None:
            return obs(None, Condition.LEARNING, history=new)
        per_minute = (value - prev_v) * 60.0 / (event_time - prev_t)
        return obs(per_minute, classify(rule, per_minute), history=new)
    ewma = hist.ewma.copy() if hist.ewma is not None else Ewma(alpha=rule.alpha)
    # deviations count against a std of at least min_change/threshold of the baseline, so a
    # change smaller than min_change (relative) never reaches `threshold` deviations
    ewma.rel_floor = max(DEFAULT_REL_FLOOR, rule.min_change / rule.threshold)
    baseline = ewma.mean if ewma.n else None
    z = ewma.update(value, rule.min_history)
    new = replace(hist, ewma=ewma)
    if z is None:
        return obs(None, Condition.LEARNING, baseline=baseline, history=new)
    return obs(z, classify(rule, z), baseline=baseline, history=new)


# ---- annotations ---------------------------------------------------------------------------


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot render (unbalanced braces, unknown field), or None."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:
        return f"bad template {template!r}: {exc} (write {{{{ and }}}} for literal braces)"
    for _lit, name, _spec, _conv in parts:
        if name is None:
            continue
        if name.startswith("labels.") and len(name) > len("labels."):
            continue
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(sorted(TEMPLATE_FIELDS | {"labels.NAME"}))
            return f"unknown placeholder {{{name}}} in {template!r}; known: {known}"
    return None


def _show(value: Any, spec: str) -> str:
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1e6 else f"{value:.4g}"
    return str(value)


def render(template: str, context: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Fill ``{labels.x}``, ``{value}``, ``{value:.1%}``... A missing label or value gives a
    visible placeholder (``<no labels.path>``, ``<no value>``), never an exception."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError:
        return template
    out: list[str] = []
    for literal, name, spec, conv in parts:
        out.append(literal)
        if name is None:
            continue
        if name.startswith("labels."):
            value: Any = labels.get(name[len("labels.") :])
        elif name in context:
            value = context[name]
        else:
            out.append(f"<unknown {name}>")
            continue
        if value is None:
            out.append(f"<no {name}>")
            continue
        if conv == "r":
            value = repr(value)
        out.append(_show(value, spec or ""))
    return "".join(out)


def iso(ts: float | None) -> str | None:
    """Event time as ISO 8601 UTC text (``2026-03-29T00:01:00Z``), None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def render_annotations(rule: Rule, labels: Mapping[str, str], **values: Any) -> dict[str, str]:
    """Every annotation of ``rule`` rendered with the labels and ``values`` (value, score, ...)."""
    context: dict[str, Any] = {
        "rule": rule.name,
        "severity": rule.severity,
        "threshold": rule.threshold,
        "recovery": rule.recovery,
        "aggregate": rule.aggregate,
        "window": rule.window,
        "kind": rule.kind.value,
        "value": None,
        "score": None,
        "baseline": None,
        "down_at": None,
        "up_at": None,
        "duration": None,
    }
    context.update(values)
    for key in ("down_at", "up_at"):
        if isinstance(context[key], int | float):
            context[key] = iso(float(context[key]))
    return {k: render(t, context, labels) for k, t in rule.annotations.items()}


# ---- description ---------------------------------------------------------------------------


def expression(rule: Rule) -> str:
    """A one-line, PromQL-flavoured text of what the rule computes (for humans and BI)."""
    sel = ",".join(str(m) for m in rule.matchers)
    if rule.kind is RuleKind.ABSENCE:
        return f"absent(host{{{sel}}}) for {rule.absent_for_s:g}s"
    what = f"{rule.measurement}.{rule.field}" if rule.source is Source.METRIC else "log"
    base = f"{rule.aggregate}({what}{{{sel}}}) over {rule.window}"
    guard = f" with samples >= {rule.min_samples}" if rule.min_samples else ""
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
