"""The alert state machine on explicit event-time timelines (seconds after T0, UTC epoch).

Diagram legend: ``I`` inactive, ``P`` pending, ``F`` firing, ``R`` resolved; ``-`` no change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.labels import Matcher, MatchOp, fingerprint
from alerting.observation import Condition, Observation
from alerting.rules import NoData, Rule, RuleKind, alert_labels
from alerting.silences import Silence
from alerting.state import AlertState, absence_labels, evaluate, forgettable, step, step_absence
from alerting.suppression import (
    AckResult,
    Suppression,
    acknowledge,
    refresh_silences,
    suppressed_reason,
)
from alerting.transitions import EDGES, Status, Transition

T0 = 1_700_000_040.0  # 2023-11-14T22:14:00Z
DESC = {
    "type": "metric",
    "measurement": "cpu",
    "field": "usage_active",
    "tags": {"cpu": "cpu-total", "host": "web-1"},
}
I, P, F, R = Status.INACTIVE, Status.PENDING, Status.FIRING, Status.RESOLVED  # noqa: E741


def cpu_rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {
        "name": "cpu_hot",
        "measurement": "cpu",
        "field": "usage_active",
        "aggregate": "mean",
        "threshold": 90.0,
        "annotations": {"summary": "{labels.host} cpu {value:.0f}%"},
    }
    base.update(kw)
    return Rule(**base)


def run(
    rule: Rule, timeline: list[tuple[float, float | None]], state: AlertState | None = None
) -> tuple[AlertState | None, list[Transition]]:
    """Evaluate ``rule`` on values at T0 + t (None: the window has no value)."""
    out = []
    for t, value in timeline:
        state, tr = evaluate(state, rule, {"mean": value}, DESC, T0 + t)
        if tr is not None:
            out.append(tr)
    return state, out


def edges(transitions: list[Transition]) -> list[tuple[float, Status, Status]]:
    return [(tr.event_time - T0, tr.from_state, tr.to_state) for tr in transitions]


CASES = [
    pytest.param(
        {"for_s": 60},
        # value  95   95   70
        # t      0    30   50
        # state  P    -    I      (for 60 s not met when the condition clears)
        [(0, 95), (30, 95), (50, 70)],
        [(0, I, P), (50, P, I)],
        id="for-not-met-then-clears",
    ),
    pytest.param(
        {"for_s": 60},
        # value  95   95   95   70
        # t      0    30   60   90
        # state  P    -    F    R
        [(0, 95), (30, 95), (60, 95), (90, 70)],
        [(0, I, P), (60, P, F), (90, F, R)],
        id="for-met-fires-then-resolves",
    ),
    pytest.param(
        {"for_s": 60},
        # value  95   70   95   95   95
        # t      0    20   40   80   100
        # state  P    I    P    -    F     (the for clock restarts at 40)
        [(0, 95), (20, 70), (40, 95), (80, 95), (100, 95)],
        [(0, I, P), (20, P, I), (40, I, P), (100, P, F)],
        id="for-clock-restarts-after-clearing",
    ),
    pytest.param(
        {},
        # value  95   70   95
        # t      0    30   60
        # state  F    R    F      (for 0: straight to firing; resolved -> firing again)
        [(0, 95), (30, 70), (60, 95)],
        [(0, I, F), (30, F, R), (60, R, F)],
        id="for-zero",
    ),
    pytest.param(
        {"for_s": 30},
        # value  95   95   95   70   95   95
        # t      0    5    30   40   60   90
        # state  P    -    F    R    P    F     (resolved rests until the next pending)
        [(0, 95), (5, 95), (30, 95), (40, 70), (60, 95), (90, 95)],
        [(0, I, P), (30, P, F), (40, F, R), (60, R, P), (90, P, F)],
        id="resolved-then-pending-again",
    ),
    pytest.param(
        {},
        # value  95   89   91   88   92          threshold 90, no recovery threshold
        # t      0    10   20   30   40
        # state  F    R    F    R    F           every crossing is a transition (flapping)
        [(0, 95), (10, 89), (20, 91), (30, 88), (40, 92)],
        [(0, I, F), (10, F, R), (20, R, F), (30, F, R), (40, R, F)],
        id="flapping-without-hysteresis",
    ),
    pytest.param(
        {"recovery": 80},
        # value  95   89   91   88   92   79
        # t      0    10   20   30   40   50
        # band        ~~   --   ~~   --             80 < v <= 90 keeps the state
        # state  F    -    -    -    -    R
        [(0, 95), (10, 89), (20, 91), (30, 88), (40, 92), (50, 79)],
        [(0, I, F), (50, F, R)],
        id="flapping-with-hysteresis",
    ),
    pytest.param(
        {"recovery": 80},
        # value  85   85   80   95
        # t      0    10   20   30
        # state  -    -    -    F     (the band never starts an alert; 80 is recovered)
        [(0, 85), (10, 85), (20, 80), (30, 95)],
        [(30, I, F)],
        id="band-does-not-start-an-alert",
    ),
    pytest.param(
        {"recovery": 80, "for_s": 60},
        # value  95   85   85   95   80
        # t      0    30   60   70   90
        # state  P    -    -    F    R     (band keeps pending but never promotes it)
        [(0, 95), (30, 85), (60, 85), (70, 95), (90, 80)],
        [(0, I, P), (70, P, F), (90, F, R)],
        id="band-keeps-pending-without-promoting",
    ),
    pytest.param(
        {"recovery": 80, "for_s": 60},
        # value  95   85   79
        # t      0    30   40
        # state  P    -    I
        [(0, 95), (30, 85), (40, 79)],
        [(0, I, P), (40, P, I)],
        id="pending-below-recovery-clears",
    ),
    pytest.param(
        {"keep_firing_for_s": 60},
        # value  95   70   95   70   70   70
        # t      0    30   50   90   109  110
        # state  F    -    -    -    -    R     (resolves 60 s after the condition last held)
        [(0, 95), (30, 70), (50, 95), (90, 70), (109, 70), (110, 70)],
        [(0, I, F), (110, F, R)],
        id="keep-firing-for",
    ),
    pytest.param(
        {"keep_firing_for_s": 60, "recovery": 80},
        # value  95   85   70   70
        # t      0    40   80   100
        # state  F    -    -    R     (the band counts as still active: 100 - 40 >= 60)
        [(0, 95), (40, 85), (80, 70), (100, 70)],
        [(0, I, F), (100, F, R)],
        id="keep-firing-for-counts-from-the-band",
    ),
    pytest.param(
        {},
        # value  95   --   --   70          (-- no data; default no_data: keep)
        # t      0    30   60   90
        # state  F    -    -    R
        [(0, 95), (30, None), (60, None), (90, 70)],
        [(0, I, F), (90, F, R)],
        id="no-data-keep-firing",
    ),
    pytest.param(
        {"for_s": 60},
        # value  95   --   --   95
        # t      0    30   60   70
        # state  P    -    -    F     (no data neither clears nor promotes)
        [(0, 95), (30, None), (60, None), (70, 95)],
        [(0, I, P), (70, P, F)],
        id="no-data-keep-pending",
    ),
    pytest.param(
        {"keep_firing_for_s": 30},
        # value  95   --   --   70
        # t      0    20   60   70
        # state  F    -    -    R     (no data does not refresh keep_firing_for)
        [(0, 95), (20, None), (60, None), (70, 70)],
        [(0, I, F), (70, F, R)],
        id="no-data-does-not-extend-keep-firing-for",
    ),
    pytest.param(
        {"no_data": NoData.OK},
        # value  95   --
        # t      0    30
        # state  F    R
        [(0, 95), (30, None)],
        [(0, I, F), (30, F, R)],
        id="no-data-ok-resolves",
    ),
    pytest.param(
        {"no_data": NoData.ALERTING, "for_s": 30},
        # value  --   --   70
        # t      0    30   40
        # state  P    F    R
        [(0, None), (30, None), (40, 70)],
        [(0, I, P), (30, P, F), (40, F, R)],
        id="no-data-alerting-fires",
    ),
    pytest.param(
        {},
        # value  95   70   95(at 30, older than 60: ignored)
        # t      0    60   30
        [(0, 95), (60, 70), (30, 95)],
        [(0, I, F), (60, F, R)],
        id="out-of-order-observation-ignored",
    ),
    pytest.param(
        {"op": "<", "threshold": 10.0, "recovery": 15.0},
        # value  5    12   16           (< 10 fires, >= 15 recovers, between keeps)
        # t      0    30   60
        # state  F    -    R
        [(0, 5), (30, 12), (60, 16)],
        [(0, I, F), (60, F, R)],
        id="below-threshold-with-hysteresis",
    ),
    pytest.param(
        {"op": ">=", "recovery": 80},
        # value  90   81   80           (>= 90 fires; exactly 80 is recovered)
        [(0, 90), (30, 81), (60, 80)],
        [(0, I, F), (60, F, R)],
        id="boundaries-inclusive",
    ),
]


@pytest.mark.parametrize(("rule_kw", "timeline", "expected"), CASES)
def test_timelines(
    rule_kw: dict[str, Any],
    timeline: list[tuple[float, float | None]],
    expected: list[tuple[float, Status, Status]],
) -> None:
    state, transitions = run(cpu_rule(**rule_kw), timeline)
    assert edges(transitions) == expected
    assert state is not None
    assert state.status == (expected[-1][2] if expected else I)
    for tr in transitions:
        assert (tr.from_state, tr.to_state) in EDGES


def test_transition_record_fields() -> None:
    # value  95   95   70        for 30 s
    # t      0    30   60
    # state  P    F    R
    _, trs = run(cpu_rule(for_s=30), [(0, 95), (30, 95.5), (60, 70)])
    firing, resolved = trs[1], trs[2]
    fp = fingerprint(alert_labels(cpu_rule(), DESC))
    assert firing.id == f"{fp}:firing:{int(T0 * 1000)}"  # episode = first breach at T0
    assert resolved.id == f"{fp}:resolved:{int(T0 * 1000)}"
    assert firing.incident_id == resolved.incident_id == f"{fp}:{int(T0 * 1000)}"
    assert firing.labels == {
        "cpu": "cpu-total",
        "host": "web-1",
        "alertname": "cpu_hot",
        "severity": "warning",
    }
    assert (firing.value, firing.threshold, firing.event_time) == (95.5, 90.0, T0 + 30)
    assert (firing.active_at, firing.fired_at) == (T0, T0 + 30)
    assert firing.annotations == {"summary": "web-1 cpu 96%"}
    record = firing.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["from_state"] == "pending" and record["to_state"] == "firing"
    assert set(record) >= {"id", "rule", "fingerprint", "labels", "value", "event_time"}


def test_transition_ids_unique_across_episodes() -> None:
    _, trs = run(cpu_rule(), [(0, 95), (10, 70), (20, 95), (30, 70), (40, 95)])
    ids = [tr.id for tr in trs]
    assert len(set(ids)) == len(ids) == 5
    assert len({tr.incident_id for tr in trs}) == 3  # three firing episodes


def test_replay_gives_same_ids_and_no_extra_transitions() -> None:
    timeline: list[tuple[float, float | None]] = [(0, 95), (30, 95), (60, 95), (90, 70)]
    rule = cpu_rule(for_s=60)
    state, first = run(rule, timeline)
    _, again = run(rule, timeline)
    assert [t.id for t in first] == [t.id for t in again]
    # after a restart the state is restored and the stream is replayed from an earlier offset
    restored = AlertState.from_state(json.loads(json.dumps(state.to_state())))  # type: ignore[union-attr]
    _, replayed = run(rule, timeline, restored)
    assert replayed == []


def test_restart_mid_pending_continues_the_for_clock() -> None:
    rule = cpu_rule(for_s=60)
    state, trs = run(rule, [(0, 95), (30, 95)])
    restored = AlertState.from_state(json.loads(json.dumps(state.to_state())))  # type: ignore[union-attr]
    assert restored == state
    _, rest = run(rule, [(60, 95)], restored)
    assert edges(trs + rest) == [(0, I, P), (60, P, F)]


def test_fingerprint_mismatch_is_refused() -> None:
    state = AlertState.initial("cpu_hot", {"alertname": "cpu_hot", "host": "other"})
    obs = Observation(cpu_rule(), {"host": "web-1"}, "feedface", T0, 95.0, 95.0, Condition.FIRING)
    with pytest.raises(ValueError, match="feedface"):
        step(state, obs, T0)


# ---- ack ----------------------------------------------------------------------------------


def test_ack_then_resolve_then_refire_is_not_acknowledged() -> None:
    # value  95   ack   95   70   95
    # t      0    10    20   30   40
    # state  F    F(a)  F(a) R    F      (a = acknowledged; resolving clears it)
    rule = cpu_rule()
    state, _ = run(rule, [(0, 95)])
    assert state is not None
    assert suppressed_reason(state) is Suppression.NONE
    state, result = acknowledge(state, "ana", T0 + 10, "looking")
    assert result is AckResult.ACKNOWLEDGED
    assert (state.acknowledged, state.ack_by, state.ack_comment) == (True, "ana", "looking")
    assert suppressed_reason(state) is Suppression.ACKNOWLEDGED
    again, result = acknowledge(state, "bo", T0 + 11)
    assert result is AckResult.ALREADY_ACKNOWLEDGED and again.ack_by == "ana"
    state, trs = run(rule, [(20, 95)], state)
    assert trs == [] and state is not None and state.acknowledged  # still firing: still acked
    state, trs = run(rule, [(30, 70)], state)
    assert state is not None and edges(trs) == [(30, F, R)]
    assert not state.acknowledged and state.ack_by is None
    assert suppressed_reason(trs[0]) is Suppression.NONE  # the resolved notice goes out
    state, trs = run(rule, [(40, 95)], state)
    assert state is not None and edges(trs) == [(40, R, F)]
    assert not state.acknowledged
    assert suppressed_reason(state) is Suppression.NONE


@pytest.mark.parametrize(
    ("timeline", "status"),
    [([], I), ([(0, 95)], P), ([(0, 95), (90, 70)], R)],
    ids=["inactive", "pending", "resolved"],
)
def test_ack_only_while_firing(timeline: list[tuple[float, float | None]], status: Status) -> None:
    rule = cpu_rule(for_s=60) if status is P else cpu_rule()
    state, _ = run(rule, timeline, AlertState.initial("cpu_hot", alert_labels(rule, DESC)))
    assert state is not None and state.status is status
    same, result = acknowledge(state, "ana", T0)
    assert result is AckResult.NOT_FIRING and same == state


def test_ack_survives_keep_firing_for() -> None:
    rule = cpu_rule(keep_firing_for_s=60)
    state, _ = run(rule, [(0, 95)])
    assert state is not None
    state, _ = acknowledge(state, "ana", T0 + 1)
    state, trs = run(rule, [(30, 70)], state)  # cleared, but still firing for 60 s
    assert trs == [] and state is not None and state.acknowledged


# ---- silences -----------------------------------------------------------------------------

WALL = 2_000_000_000.0


def silence(**kw: Any) -> Silence:
    base: dict[str, Any] = {
        "id": "s1",
        "matchers": (Matcher("host", MatchOp.RE, "web-.*"),),
        "starts_at": WALL + 100,
        "ends_at": WALL + 200,
        "created_by": "ana",
    }
    base.update(kw)
    return Silence(**base)


def test_silence_start_and_expiry() -> None:
    # wall      +0     +100 ........ +200
    # silence          [---- s1 ----)
    # value     95     95     70     95(+250)     refresh at +200 clears the flag
    # state     F      -      R      F
    # silenced  no     yes    yes    no
    rule = cpu_rule()
    sil = [silence()]
    state: AlertState | None = None
    seen = []
    for t, value, wall in [(0, 95, 0), (100, 95, 100), (150, 70, 150), (250, 95, 250)]:
        state, tr = evaluate(
            state, rule, {"mean": value}, DESC, T0 + t, silences=sil, wall_now=WALL + wall
        )
        seen.append((t, state.status, state.silenced_by, tr and tr.silenced_by))
    assert seen == [
        (0, F, (), ()),
        (100, F, ("s1",), None),
        (150, R, ("s1",), ("s1",)),  # silenced alerts still change state
        (250, F, (), ()),
    ]
    assert state is not None
    # expiry on the wall-clock tick, without an observation
    state, _ = run(rule, [(260, 95)], state)
    assert state is not None
    live = refresh_silences(state, sil, WALL + 150)
    assert live.silenced_by == ("s1",)
    assert suppressed_reason(live) is Suppression.SILENCED
    assert refresh_silences(live, sil, WALL + 200).silenced_by == ()
    # judged live, with the silences at hand
    assert suppressed_reason(live, silences=sil, wall_now=WALL + 199) is Suppression.SILENCED
    assert suppressed_reason(live, silences=sil, wall_now=WALL + 200) is Suppression.NONE


def test_silence_needs_all_matchers() -> None:
    sil = silence(
        matchers=(Matcher("host", MatchOp.EQ, "web-1"), Matcher("alertname", MatchOp.EQ, "x"))
    )
    state, _ = run(cpu_rule(), [(0, 95)])
    assert state is not None
    assert refresh_silences(state, [sil], WALL + 150).silenced_by == ()


def test_silence_round_trip_and_validation() -> None:
    s = silence()
    assert Silence.from_state(json.loads(json.dumps(s.to_state()))) == s
    with pytest.raises(ValueError, match="matcher"):
        silence(matchers=())
    with pytest.raises(ValueError, match="ends_at"):
        silence(ends_at=WALL + 100)


@pytest.mark.parametrize(
    ("silenced", "inhibited", "acked", "reason"),
    [
        (False, False, False, Suppression.NONE),
        (False, False, True, Suppression.ACKNOWLEDGED),
        (False, True, True, Suppression.INHIBITED),
        (True, True, True, Suppression.SILENCED),
    ],
)
def test_suppressed_reason_priority(
    silenced: bool, inhibited: bool, acked: bool, reason: Suppression
) -> None:
    state, _ = run(cpu_rule(), [(0, 95)])
    assert state is not None
    if acked:
        state, _ = acknowledge(state, "ana", T0)
    if silenced:
        state = refresh_silences(state, [silence()], WALL + 150)
    assert suppressed_reason(state, inhibited=inhibited) is reason


def test_suppressed_reason_needs_wall_clock_with_silences() -> None:
    state = AlertState.initial("x", {"alertname": "x"})
    with pytest.raises(ValueError, match="wall_now"):
        suppressed_reason(state, silences=[silence()])


# ---- absence ------------------------------------------------------------------------------

HOST_DOWN = Rule(
    name="host_down",
    kind=RuleKind.ABSENCE,
    absent_for_s=60,
    severity="critical",
    annotations={"summary": "{labels.host} down {duration:.0f}s since {down_at}"},
)
W0 = 5_000_000_000.0  # wall clock, far from event time


def absent_run(ticks: list[tuple[float, float, float]]) -> tuple[AlertState, list[Transition]]:
    """Ticks of (wall, host's last event time - T0, wall of its last record)."""
    state = AlertState.initial("host_down", absence_labels(HOST_DOWN, "web-1"))
    out = []
    for wall, last_event, last_recv in ticks:
        state, tr = step_absence(
            state,
            HOST_DOWN,
            last_event_time=T0 + last_event,
            last_received=W0 + last_recv,
            now_wall=W0 + wall,
        )
        if tr is not None:
            out.append(tr)
    return state, out


def test_absence_fires_and_recovers_with_the_down_duration() -> None:
    # wall         0 ... 100                160             400  401
    # host data    |||||||| (last: t=100)   silent .......  | t=400 again
    # tick                                  F (60 s quiet)        R
    state, trs = absent_run(
        [
            (100, 100, 100),
            (159, 100, 100),  # 59 s quiet: not yet
            (160, 100, 100),  # 60 s: down
            (300, 100, 100),
            (401, 400, 400),  # data again at event time 400
            (402, 401, 401),
        ]
    )
    assert [(t.from_state, t.to_state) for t in trs] == [(I, F), (F, R)]
    down, up = trs
    assert down.down_at == T0 + 100 and down.event_time == T0 + 160
    assert down.annotations["summary"] == "web-1 down 60s since 2023-11-14T22:15:40Z"
    assert down.labels == {"host": "web-1", "alertname": "host_down", "severity": "critical"}
    assert (up.down_at, up.up_at, up.down_for_s) == (T0 + 100, T0 + 400, 300.0)
    assert up.incident_id == down.incident_id
    assert state.status is R
    assert AlertState.from_state(json.loads(json.dumps(state.to_state()))) == state


def test_absence_ids_do_not_depend_on_tick_timing() -> None:
    _, a = absent_run([(160, 100, 100), (401, 400, 400)])
    _, b = absent_run([(100, 100, 100), (173.5, 100, 100), (400.2, 400, 400)])
    assert [t.id for t in a] == [t.id for t in b]


def test_absence_refires_with_a_new_episode() -> None:
    _, trs = absent_run([(160, 100, 100), (401, 400, 400), (470, 405, 405)])
    assert [(t.from_state, t.to_state) for t in trs] == [(I, F), (F, R), (R, F)]
    assert trs[2].down_at == T0 + 405 and len({t.id for t in trs}) == 3


def test_absence_catching_up_on_a_backlog_is_not_down() -> None:
    # a worker restarts and reads old data: event time far behind the wall clock, but records
    # keep arriving, so the host is not silent
    _, trs = absent_run([(1000, 100, 999.5), (1001, 101, 1000.8)])
    assert trs == []


def test_absence_straggler_with_old_event_time_does_not_resolve() -> None:
    # down since t=100; a late record arrives (wall 300) but carries no newer event time
    state, trs = absent_run([(160, 100, 100), (301, 100, 300)])
    assert [(t.from_state, t.to_state) for t in trs] == [(I, F)]
    assert state.status is F


def test_absence_ignores_stale_ticks_and_rejects_other_kinds() -> None:
    state, trs = absent_run([(160, 100, 100), (150, 100, 100)])
    assert len(trs) == 1 and state.evaluated_at == W0 + 160
    with pytest.raises(ValueError, match="not an absence rule"):
        step_absence(state, cpu_rule(), last_event_time=T0, last_received=W0, now_wall=W0 + 1)


def test_absence_silenced() -> None:
    state = AlertState.initial("host_down", absence_labels(HOST_DOWN, "web-1"))
    sil = Silence("m", (Matcher("host", MatchOp.EQ, "web-1"),), W0, W0 + 1000)
    state, tr = step_absence(
        state, HOST_DOWN, last_event_time=T0, last_received=W0, now_wall=W0 + 61, silences=[sil]
    )
    assert tr is not None and tr.silenced_by == ("m",)
    assert suppressed_reason(tr) is Suppression.SILENCED


def test_forgettable() -> None:
    state, _ = run(cpu_rule(), [(0, 95), (30, 70)])
    assert state is not None and forgettable(state)
    state, _ = run(cpu_rule(), [(0, 95)])
    assert state is not None and not forgettable(state)


# ---- properties ---------------------------------------------------------------------------

CONDITIONS = list(Condition)
rules_st = st.builds(
    cpu_rule,
    for_s=st.sampled_from([0.0, 30.0, 60.0]),
    keep_firing_for_s=st.sampled_from([0.0, 45.0]),
    no_data=st.sampled_from(list(NoData)),
)
events_st = st.lists(
    st.tuples(st.sampled_from([*CONDITIONS, "ack"]), st.integers(min_value=0, max_value=90)),
    max_size=40,
)


def play(
    rule: Rule, events: list[tuple[Any, int]], state: AlertState, t: float = T0
) -> tuple[AlertState, list[Transition], float]:
    labels = alert_labels(rule, DESC)
    fp = fingerprint(labels)
    out = []
    for what, dt in events:
        t += dt
        if what == "ack":
            state, _ = acknowledge(state, "ana", t)
            continue
        obs = Observation(rule, labels, fp, t, 1.0, 1.0, what)
        state, tr = step(state, obs, t)
        if tr is not None:
            out.append(tr)
    return state, out, t


def fresh(rule: Rule) -> AlertState:
    return AlertState.initial(rule.name, alert_labels(rule, DESC))


@settings(max_examples=300, deadline=None)
@given(rules_st, events_st)
def test_only_legal_edges_and_a_consistent_chain(rule: Rule, events: list[Any]) -> None:
    state, trs, _ = play(rule, events, fresh(rule))
    previous = Status.INACTIVE
    for tr in trs:
        assert (tr.from_state, tr.to_state) in EDGES
        assert tr.from_state is previous
        previous = tr.to_state
    assert state.status is previous
    assert len({tr.id for tr in trs}) == len(trs)
    assert not state.acknowledged or state.status is Status.FIRING
    if state.status is Status.FIRING:
        assert state.fired_at is not None and state.active_at is not None


@settings(max_examples=300, deadline=None)
@given(rules_st, events_st, st.data())
def test_prefix_then_rest_equals_one_go(rule: Rule, events: list[Any], data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=len(events)))
    whole, trs_whole, _ = play(rule, events, fresh(rule))
    mid, trs_a, t = play(rule, events[:k], fresh(rule))
    restored = AlertState.from_state(json.loads(json.dumps(mid.to_state())))
    end, trs_b, _ = play(rule, events[k:], restored, t)
    assert end == whole
    assert trs_a + trs_b == trs_whole


@settings(max_examples=200, deadline=None)
@given(rules_st, events_st, st.data())
def test_replaying_observations_after_restart_emits_nothing_twice(
    rule: Rule, events: list[Any], data: st.DataObject
) -> None:
    obs_only = [(c, dt + 1) for c, dt in events if c != "ack"]  # strictly increasing times
    k = data.draw(st.integers(min_value=0, max_value=len(obs_only)))
    j = data.draw(st.integers(min_value=0, max_value=k))
    whole, trs_whole, _ = play(rule, obs_only, fresh(rule))
    mid, trs_a, _ = play(rule, obs_only[:k], fresh(rule))
    t_j = T0 + sum(dt for _, dt in obs_only[:j])
    # the restored state has seen up to k; the stream is replayed from j <= k
    end, trs_b, _ = play(rule, obs_only[j:], mid, t_j)
    assert end == whole
    assert trs_a + trs_b == trs_whole


@settings(max_examples=400, deadline=None)
@given(
    op=st.sampled_from([">", ">=", "<", "<="]),
    threshold=st.floats(-100, 100),
    recovery_gap=st.one_of(st.none(), st.floats(0, 50)),
    no_data=st.sampled_from(list(NoData)),
    min_samples=st.integers(0, 5),
    value=st.one_of(st.none(), st.floats(-200, 200), st.just(float("nan"))),
    count=st.one_of(st.none(), st.integers(0, 10)),
    for_s=st.sampled_from([0.0, 60.0]),
    kind=st.sampled_from(["threshold", "anomaly", "rate_of_change"]),
)
def test_stays_inactive_agrees_with_a_full_evaluation(
    op: str,
    threshold: float,
    recovery_gap: float | None,
    no_data: NoData,
    min_samples: int,
    value: float | None,
    count: int | None,
    for_s: float,
    kind: str,
) -> None:
    """The evaluator's fast path for healthy series is exact: whenever ``stays_inactive`` says
    so, a full evaluation of a series without state gives no transition and nothing to keep."""
    from alerting.rules import Comparison
    from alerting.state import stays_inactive

    if kind != "threshold":  # a stateful kind: only its no-data cases take the fast path
        threshold = abs(threshold) + 1.0
        recovery_gap = None

    recovery = None
    if recovery_gap is not None:
        recovery = threshold - recovery_gap if op in (">", ">=") else threshold + recovery_gap
    rule = cpu_rule(
        op=Comparison(op),
        threshold=threshold,
        recovery=recovery,
        no_data=no_data,
        min_samples=min_samples,
        for_s=for_s,
        kind=RuleKind(kind),
    )
    assert rule.problem() is None, rule.problem()
    result: dict[str, Any] | None = {"mean": value}
    if count is not None:
        result["count"] = count  # type: ignore[index]
    if value is None and count is None:
        result = None
    state, tr = evaluate(None, rule, result, DESC, T0)
    if stays_inactive(rule, result):
        assert tr is None and forgettable(state)
    else:
        assert tr is not None or not forgettable(state) or state.status is not Status.INACTIVE


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(1, 10),
    no_data=st.sampled_from(list(NoData)),
    min_samples=st.integers(0, 5),
    errors=st.one_of(st.none(), st.integers(0, 20)),
    count=st.one_of(st.none(), st.integers(0, 20)),
)
def test_stays_inactive_agrees_with_a_full_evaluation_of_a_new_pattern_rule(
    threshold: int, no_data: NoData, min_samples: int, errors: int | None, count: int | None
) -> None:
    """The same for ``new_pattern`` rules (judged on the value alone, like thresholds): a
    pattern that is not new, or has too few lines, builds no state."""
    from alerting.rules import Comparison, Source
    from alerting.state import stays_inactive

    rule = Rule(
        name="new_error_pattern",
        kind=RuleKind.NEW_PATTERN,
        source=Source.PATTERN,
        aggregate="errors",
        window="tumbling",
        op=Comparison.GE,
        threshold=float(threshold),
        no_data=no_data,
        min_samples=min_samples,
    )
    assert rule.problem() is None, rule.problem()
    result: dict[str, Any] | None = {"errors": errors, "count": count}
    if errors is None and count is None:
        result = None
    desc = {"type": "pattern", "service": "shop", "host": "h1", "pattern_id": "p1"}
    state, tr = evaluate(None, rule, result, desc, T0)
    if stays_inactive(rule, result):
        assert tr is None and forgettable(state)
    else:
        assert tr is not None or not forgettable(state) or state.status is not Status.INACTIVE
