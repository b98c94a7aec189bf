"""The alert state machine, one instance per fingerprint, on event time (pure).

::

      ┌────────── clears before `for` ──────────┐
      ▼                                         │
    inactive ──── holds, for > 0 ──────────▶ pending ──── held `for` ────▶ firing
      │                                         ▲                           ▲  │
      │                                         │ holds, for > 0            │  │ recovered, and
      │                                         │                           │  │ keep_firing_for
      │                                     resolved ◀──────────────────────┼──┘ elapsed
      │                                         │                           │
      │                                         └──── holds, for = 0 ───────┤
      └────────────────── holds, for = 0 (host down: always) ───────────────┘

Legal edges (:data:`alerting.transitions.EDGES`): inactive→pending, inactive→firing,
pending→inactive, pending→firing, firing→resolved, resolved→pending, resolved→firing.
``resolved`` is a resting state: the instance stays "resolved since T" (what a user listing
alerts wants to see) until the condition holds again, so every transition's ``from_state`` is
the previous one's ``to_state``.
A pending instance that clears goes back to ``inactive`` without ever firing.

* ``for_s``: pending until the condition has held for ``for_s`` seconds of event time (measured
  from the first observation that breached); it is promoted by the first breaching observation
  at or after that point. A hysteresis-band, no-data (``keep``) or learning observation keeps
  pending without promoting it; a recovered one sends it back to inactive.
* ``keep_firing_for_s``: a firing instance resolves only on a recovered observation at least
  ``keep_firing_for_s`` after the condition last held (a breach or the hysteresis band).
* Hysteresis: :attr:`Condition.HOLD` (between the recovery threshold and the threshold) keeps the
  current state: no new pending, no promotion, no resolution.
* No data: the rule's ``no_data`` maps it to keep (HOLD without refreshing timers), ok
  (recovered) or alerting (the condition holds).
* Ordering and replay: an observation at or before the last evaluated event time is ignored, so
  replaying observations after a restart changes nothing and emits nothing twice.
* Flags, not states: ``acknowledged`` (set by :func:`alerting.suppression.acknowledge` while
  firing, cleared when the instance resolves, never carried into a new firing) and
  ``silenced_by`` (ids of the active silences matching the labels, refreshed by :func:`step` and
  :func:`alerting.suppression.refresh_silences` on the wall clock, since silences are set in
  wall time). Both only suppress notifications (:func:`alerting.suppression.suppressed_reason`);
  the state changes as usual.

Transition ids are ``{fingerprint}:{to_state}:{episode_ms}`` where the episode starts at the
event time the condition first held (for host down: the host's last data before the gap): the
same observations give the same ids on every run, and one episode never repeats an id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerting.annotations import render_annotations
from alerting.labels import fingerprint
from alerting.observation import (
    Condition,
    Observation,
    SeriesHistory,
    classify,
    observe,
    threshold_value,
)
from alerting.rules import NoData, Rule, RuleKind, alert_labels
from alerting.silences import Silence, silencing
from alerting.transitions import Status, Transition


def _ms(ts: float) -> int:
    return round(ts * 1000)


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert instance. Times are event-time epoch seconds unless noted.

    ``since``: when ``status`` began; ``active_at``: start of the current episode (the first
    breaching observation; host down: the last data before the gap); ``fired_at``: when it
    started firing; ``last_true``: the last time the condition held (keep_firing_for);
    ``evaluated_at``: the last observation applied (absence: wall time of the last tick).
    """

    rule: str
    fingerprint: str
    labels: dict[str, str]
    status: Status = Status.INACTIVE
    since: float | None = None
    active_at: float | None = None
    fired_at: float | None = None
    last_true: float | None = None
    evaluated_at: float | None = None
    value: float | None = None
    score: float | None = None
    acknowledged: bool = False
    ack_by: str | None = None
    ack_at: float | None = None
    ack_comment: str | None = None
    silenced_by: tuple[str, ...] = ()
    down_at: float | None = None
    history: SeriesHistory = field(default_factory=SeriesHistory)

    @classmethod
    def initial(cls, rule: str, labels: Mapping[str, str]) -> AlertState:
        """A fresh inactive instance for ``labels`` (from ``alert_labels``)."""
        return cls(rule=rule, fingerprint=fingerprint(labels), labels=dict(labels))

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state (for the Faust table changelog)."""
        return {
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "status": self.status.value,
            "since": self.since,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "last_true": self.last_true,
            "evaluated_at": self.evaluated_at,
            "value": self.value,
            "score": self.score,
            "acknowledged": self.acknowledged,
            "ack_by": self.ack_by,
            "ack_at": self.ack_at,
            "ack_comment": self.ack_comment,
            "silenced_by": list(self.silenced_by),
            "down_at": self.down_at,
            "history": self.history.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AlertState:
        """Rebuild from :meth:`to_state` output."""
        values = dict(state)
        values["status"] = Status(values["status"])
        values["labels"] = dict(values["labels"])
        values["silenced_by"] = tuple(values.get("silenced_by", ()))
        values["history"] = SeriesHistory.from_state(values.get("history"))
        return cls(**values)


def _transition(
    rule: Rule, old: AlertState, new: AlertState, now: float, **extra: Any
) -> Transition:
    episode = new.active_at if new.active_at is not None else now
    annotations = render_annotations(
        rule,
        new.labels,
        value=new.value,
        score=new.score,
        baseline=extra.pop("baseline", None),
        down_at=extra.get("down_at"),
        up_at=extra.get("up_at"),
        duration=extra.pop("duration", None),
    )
    return Transition(
        id=f"{new.fingerprint}:{new.status.value}:{_ms(episode)}",
        rule=rule.name,
        fingerprint=new.fingerprint,
        labels=dict(new.labels),
        from_state=old.status,
        to_state=new.status,
        event_time=now,
        value=new.value,
        score=new.score,
        threshold=rule.threshold,
        severity=rule.severity,
        annotations=annotations,
        incident_id=f"{new.fingerprint}:{_ms(episode)}",
        active_at=new.active_at,
        fired_at=new.fired_at,
        silenced_by=new.silenced_by,
        **extra,
    )


def _moved(state: AlertState, to: Status, now: float) -> AlertState:
    if to in (Status.RESOLVED, Status.FIRING):
        # resolving clears an ack; a new firing starts unacknowledged
        state = replace(state, acknowledged=False, ack_by=None, ack_at=None, ack_comment=None)
    return replace(state, status=to, since=now)


_NO_DATA = {NoData.KEEP: Condition.HOLD, NoData.OK: Condition.RECOVERED}


def step(
    state: AlertState,
    obs: Observation,
    now: float,
    *,
    silences: Sequence[Silence] | None = None,
    wall_now: float | None = None,
) -> tuple[AlertState, Transition | None]:
    """Apply one observation at event time ``now`` (normally ``obs.event_time``).

    ``silences`` (optional) refreshes ``silenced_by`` at wall time ``wall_now`` (default
    ``now``); without it the flag is left as it is.
    """
    if obs.fingerprint != state.fingerprint:
        raise ValueError(f"observation {obs.fingerprint} given to state {state.fingerprint}")
    if state.evaluated_at is not None and now <= state.evaluated_at:
        return state, None  # stale or already applied (replay)
    rule = obs.rule
    raw = obs.condition
    if raw is Condition.NO_DATA:
        cond = _NO_DATA.get(rule.no_data, Condition.FIRING)
    elif raw is Condition.LEARNING:
        cond = Condition.HOLD
    else:
        cond = raw
    new = replace(
        state,
        labels=dict(obs.labels),
        evaluated_at=now,
        value=obs.value,
        score=obs.score,
        history=obs.history,
    )
    if silences is not None:
        new = replace(new, silenced_by=silencing(new.labels, silences, _wall(wall_now, now)))
    status = state.status
    to: Status | None = None
    if status in (Status.INACTIVE, Status.RESOLVED):
        if cond is Condition.FIRING:
            new = replace(new, active_at=now, last_true=now, fired_at=None)
            to = Status.PENDING if rule.for_s > 0 else Status.FIRING
    elif status is Status.PENDING:
        if cond is Condition.FIRING:
            new = replace(new, last_true=now)
            start = state.active_at if state.active_at is not None else now
            if now - start >= rule.for_s:
                to = Status.FIRING
        elif cond is Condition.RECOVERED:
            to = Status.INACTIVE
    elif cond is Condition.FIRING or raw is Condition.HOLD:  # firing, condition still active
        new = replace(new, last_true=now)
    elif cond is Condition.RECOVERED:
        last = state.last_true if state.last_true is not None else now
        if now - last >= rule.keep_firing_for_s:
            to = Status.RESOLVED
    if to is None:
        return new, None
    if to is Status.FIRING:
        new = replace(new, fired_at=now)
    new = _moved(new, to, now)
    return new, _transition(rule, state, new, now, baseline=obs.baseline)


def _wall(wall_now: float | None, now: float) -> float:
    return now if wall_now is None else wall_now


def stays_inactive(rule: Rule, result: Mapping[str, Any] | None) -> bool:
    """True when :func:`evaluate` of ``rule`` on a series with no alert state would change
    nothing: no transition and a forgettable state (the common, healthy case, decided without
    building the state). False means: run :func:`evaluate`.

    Threshold and new_pattern rules judge the value alone. Any rule with no value (no data, or
    fewer than ``min_samples``) observes NO_DATA with its history untouched, so it stays
    inactive unless its ``no_data`` policy fires; anomaly and rate-of-change rules with a value
    keep history, so they always run (a pattern with too few lines for ``error_pattern_spike``
    no longer builds a state to throw away)."""
    if rule.kind is RuleKind.ABSENCE:
        return False
    value = threshold_value(rule, result)
    if value is None:
        return _NO_DATA.get(rule.no_data, Condition.FIRING) is not Condition.FIRING
    if rule.kind is RuleKind.THRESHOLD or rule.kind is RuleKind.NEW_PATTERN:
        return classify(rule, value) is not Condition.FIRING
    return False


def evaluate(
    state: AlertState | None,
    rule: Rule,
    result: Mapping[str, Any] | None,
    description: Mapping[str, Any],
    event_time: float,
    *,
    silences: Sequence[Silence] | None = None,
    wall_now: float | None = None,
    fp: str | None = None,
) -> tuple[AlertState, Transition | None]:
    """:func:`observe` then :func:`step` at ``event_time`` (``state`` None: a new instance;
    ``fp``: the labels' fingerprint, when known)."""
    history = None if state is None else state.history
    obs = observe(rule, result, description, event_time, history, fp)
    if state is None:
        state = AlertState(rule=rule.name, fingerprint=obs.fingerprint, labels=dict(obs.labels))
    return step(state, obs, event_time, silences=silences, wall_now=wall_now)


# ---- absence -------------------------------------------------------------------------------


def absence_labels(rule: Rule, host: str) -> dict[str, str]:
    """Alert labels of the absence ``rule`` for ``host``."""
    return alert_labels(rule, {"type": "host", "host": host})


def step_absence(
    state: AlertState,
    rule: Rule,
    *,
    last_event_time: float,
    last_received: float,
    now_wall: float,
    silences: Sequence[Silence] | None = None,
) -> tuple[AlertState, Transition | None]:
    """Host down / back on a wall-clock tick (also fine to call after each batch).

    ``last_event_time`` is the host's largest event time so far, ``last_received`` the wall
    time its last record arrived (the engine's ``HostState.max_ts`` and ``last_recv``). Why the
    wall clock: a silent host sends no records, so its own event time stops; only the wall
    clock shows the silence. Why ``last_received`` and not ``now_wall - last_event_time``:
    a worker catching up on a backlog, or a host with a skewed clock, would otherwise look down.

    Fires when nothing has arrived for ``absent_for_s`` (``down_at`` = the last event time
    before the gap); resolves when data newer than ``down_at`` has arrived within
    ``absent_for_s`` (``up_at`` = the host's event time then, ``down_for_s = up_at - down_at``).
    """
    if rule.kind is not RuleKind.ABSENCE:
        raise ValueError(f"rule {rule.name!r} is not an absence rule")
    if state.evaluated_at is not None and now_wall <= state.evaluated_at:
        return state, None
    silent_for = max(0.0, now_wall - last_received)
    new = replace(state, evaluated_at=now_wall, value=silent_for, score=silent_for)
    if silences is not None:
        new = replace(new, silenced_by=silencing(new.labels, silences, now_wall))
    if state.status is not Status.FIRING:
        if silent_for < rule.absent_for_s:
            return new, None
        at = last_event_time + silent_for  # the host's event time, moved on by the wall clock
        new = replace(new, active_at=last_event_time, down_at=last_event_time, fired_at=at)
        new = _moved(new, Status.FIRING, at)
        return new, _transition(rule, state, new, at, down_at=last_event_time, duration=silent_for)
    down_at = state.down_at if state.down_at is not None else last_event_time
    if silent_for >= rule.absent_for_s or last_event_time <= down_at:
        return new, None
    new = _moved(new, Status.RESOLVED, last_event_time)
    return new, _transition(
        rule,
        state,
        new,
        last_event_time,
        down_at=down_at,
        up_at=last_event_time,
        down_for_s=last_event_time - down_at,
        duration=last_event_time - down_at,
    )


def forgettable(state: AlertState) -> bool:
    """True if dropping the instance loses nothing: inactive or resolved, no history to keep."""
    return (
        state.status in (Status.INACTIVE, Status.RESOLVED)
        and state.history.prev_time is None
        and state.history.ewma is None
    )
