"""Evaluation of a rule on one series' window result: an :class:`Observation` (pure).

A :class:`~alerting.rules.Rule` reads one aggregate of the window results of the series it
selects and :func:`observe` turns it into an observation (value, score, :class:`Condition`) for
the state machine in :mod:`alerting.state`.

``min_samples``: a window result holding fewer values (gauge count, counter samples, log
requests or else lines) counts as no data, so a handful of requests at the start of a window or
of a stream cannot fire a ratio rule.

Hysteresis: with a ``recovery`` threshold, a score that breaches ``threshold`` is
:attr:`Condition.FIRING`, one on the far side of ``recovery`` is :attr:`Condition.RECOVERED`,
and one in between is :attr:`Condition.HOLD` (the state machine keeps its current state).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from enum import StrEnum
from math import isfinite
from typing import Any

from alerting.anomaly import DEFAULT_REL_FLOOR, Ewma
from alerting.labels import fingerprint
from alerting.rules import Comparison, Direction, Rule, RuleKind, alert_labels


class Condition(StrEnum):
    """What one observation says about the alert condition."""

    FIRING = "firing"  # the firing condition holds
    RECOVERED = "recovered"  # clear of the recovery threshold (or of the threshold without one)
    HOLD = "hold"  # in the hysteresis band: keep the current state
    NO_DATA = "no_data"  # the aggregate has no value in this window
    LEARNING = "learning"  # not enough history yet (anomaly, rate of change): keep the state


_OPS: dict[Comparison, Callable[[float, float], bool]] = {
    Comparison.GT: operator.gt,
    Comparison.GE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LE: operator.le,
}


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


def threshold_value(rule: Rule, result: Mapping[str, Any] | None) -> float | None:
    """The value :func:`observe` judges for a threshold-like rule (None: no data)."""
    value = None if result is None else _number(result.get(rule.aggregate))
    if value is not None and rule.min_samples and result is not None:
        count = sample_count(result)
        if count is not None and count < rule.min_samples:
            return None  # too few values for a verdict: no data
    return value


def observe(
    rule: Rule,
    result: Mapping[str, Any] | None,
    description: Mapping[str, Any],
    event_time: float,
    history: SeriesHistory | None = None,
    fp: str | None = None,
) -> Observation:
    """Evaluate ``rule`` on one series' window ``result`` (None: the series has no result).

    ``description`` is the series' ``describe_series`` output; ``history`` the one kept in the
    alert state (``AlertState.history``); ``fp`` the labels' fingerprint when the caller knows
    it (the evaluator caches them), else computed. Pure: the updated history is in the
    observation.
    """
    if rule.kind is RuleKind.ABSENCE:
        raise ValueError(f"rule {rule.name!r} is an absence rule: use alert_state.step_absence")
    labels = alert_labels(rule, description)
    if fp is None:
        fp = fingerprint(labels)
    hist = history or SeriesHistory()
    value = threshold_value(rule, result)

    def obs(score: float | None, cond: Condition, **kw: Any) -> Observation:
        return Observation(rule, labels, fp, event_time, value, score, cond, **kw)

    if value is None:
        return obs(None, Condition.NO_DATA, history=hist)
    if rule.kind in (RuleKind.THRESHOLD, RuleKind.NEW_PATTERN):
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
