"""The stages one by one: routing, inheritance, group keys, muting, schedule, ordering, rows."""

from __future__ import annotations

import pytest

from alerting.labels import Matcher, MatchOp
from alerting.suppression import Suppression
from notifications.alerts import Ack, Applied, Change, apply, apply_ack, decode
from notifications.groups import Groups
from notifications.message import MAX_ALERTS, idempotency_key, outbox_row
from notifications.stages import (
    Action,
    GroupState,
    InhibitRule,
    Kind,
    Reason,
    Route,
    RouteSpec,
    build,
    flush,
    group_key,
    inhibitor,
    mute,
    route,
    touch,
)
from tests.unit.notify.grouping import T0, eq, fires, policy, resolves, run, silence, transition


def rx(label: str, pattern: str) -> Matcher:
    return Matcher(label, MatchOp.RE, pattern)


TREE = build(
    RouteSpec(
        receiver="ops-slack",
        group_by=("rule", "host"),
        group_wait=30,
        group_interval=300,
        repeat_interval=14400,
        routes=(
            RouteSpec(
                receiver="ops-email",
                match=(eq("severity", "critical"), rx("service", "shop|api")),
                continue_=True,
                group_wait=5,
            ),
            RouteSpec(
                match=(eq("team", "db"),),
                group_by=("...",),
                routes=(RouteSpec(receiver="dba-email", match=(eq("severity", "critical"),)),),
            ),
            RouteSpec(
                receiver="web-slack", match=(rx("service", "shop|api"),), send_resolved=False
            ),
        ),
    )
)


# ---- route ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "paths", "reason"),
    [
        ({"rule": "cpu", "severity": "warning"}, ["route"], Reason.DEFAULT_ROUTE),
        (
            {"rule": "5xx", "severity": "critical", "service": "shop"},
            ["route.routes[0]", "route.routes[2]"],  # continue: goes on to later siblings
            Reason.MATCHED_ROUTE,
        ),
        ({"severity": "critical", "service": "shopping"}, ["route"], Reason.DEFAULT_ROUTE),
        ({"service": "api", "severity": "warning"}, ["route.routes[2]"], Reason.MATCHED_ROUTE),
        ({"team": "db", "severity": "warning"}, ["route.routes[1]"], Reason.MATCHED_ROUTE),
        (
            {"team": "db", "severity": "critical"},
            ["route.routes[1].routes[0]"],
            Reason.MATCHED_ROUTE,
        ),
        # first match wins without continue: team=db stops before the service route
        ({"team": "db", "service": "shop"}, ["route.routes[1]"], Reason.MATCHED_ROUTE),
    ],
)
def test_route_tree(labels: dict[str, str], paths: list[str], reason: Reason) -> None:
    decision = route(TREE, labels)
    assert [r.path for r in decision.routes] == paths
    assert decision.reason is reason


def test_children_inherit_what_they_do_not_set() -> None:
    email, db, web = TREE.routes
    assert (email.receiver, email.group_by, email.group_wait) == ("ops-email", ("rule", "host"), 5)
    assert (email.group_interval, email.repeat_interval, email.send_resolved) == (300, 14400, True)
    assert (db.receiver, db.group_by) == ("ops-slack", ("...",))
    dba = db.routes[0]
    assert (dba.receiver, dba.group_by, dba.group_wait) == ("dba-email", ("...",), 30)
    assert web.send_resolved is False


def test_root_defaults_are_alertmanagers() -> None:
    root = build(RouteSpec(receiver="x"))
    assert (root.group_by, root.group_wait, root.group_interval) == ((), 30, 300)
    assert (root.repeat_interval, root.send_resolved) == (4 * 3600, True)
    with pytest.raises(ValueError, match="receiver"):
        build(RouteSpec())


def test_group_keys() -> None:
    r = Route(receiver="ops-slack", group_by=("rule", "host"))
    labels = {"rule": "nginx_5xx_error_rate", "host": "web-1", "severity": "critical"}
    assert group_key(r, labels) == "ops-slack|rule=nginx_5xx_error_rate,host=web-1"
    assert group_key(r, {"rule": "x"}) == "ops-slack|rule=x"  # absent labels are left out
    every = Route(receiver="r", group_by=("...",))
    assert group_key(every, {"b": "2", "a": "1"}) == "r|a=1,b=2"
    assert group_key(Route(receiver="r"), labels) == "r|"  # no group_by: one group


# ---- muting -------------------------------------------------------------------------------


def alert(rule: str, host: str, to: str = "firing", **kw: str):  # type: ignore[no-untyped-def]
    update = decode(transition(rule, host, to, **kw))
    assert isinstance(update, Change)
    return update.alert


DOWN = InhibitRule(source=(eq("rule", "host_down"),), target=(rx("rule", ".*"),), equal=("host",))


def test_a_firing_source_inhibits_targets_with_equal_labels_never_itself() -> None:
    down = alert("host_down", "web-1")
    cpu1, cpu2 = alert("cpu", "web-1"), alert("cpu", "web-2")
    assert inhibitor(cpu1, [DOWN], [down, cpu1, cpu2]) == (down, DOWN)
    assert inhibitor(cpu2, [DOWN], [down, cpu1, cpu2]) is None
    assert inhibitor(down, [DOWN], [down]) is None  # itself
    gone = alert("host_down", "web-1", "resolved")
    assert inhibitor(cpu1, [DOWN], [gone]) is None  # only firing sources inhibit


def test_two_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    rule = InhibitRule(source=(eq("severity", "critical"),), target=(), equal=("host",))
    a = alert("disk", "web-1", severity="critical")
    b = alert("mem", "web-1", severity="critical")
    c = alert("cpu", "web-1")
    assert inhibitor(a, [rule], [a, b]) is None
    assert inhibitor(c, [rule], [a, b]) is not None


def test_mute_reasons_silence_first_then_inhibition() -> None:
    cpu1 = alert("cpu", "web-1")
    down = alert("host_down", "web-1")
    quiet = silence("s-123", -1, 100, host="web-1")
    silenced = mute(cpu1, now=T0, silences=[quiet], rules=[DOWN], sources=[down])
    assert silenced is not None
    assert (silenced.why, silenced.detail) == (Suppression.SILENCED, "silenced by s-123")
    inhibited = mute(cpu1, now=T0 + 200, silences=[quiet], rules=[DOWN], sources=[down])
    assert inhibited is not None
    assert (inhibited.why, inhibited.detail) == (
        Suppression.INHIBITED,
        "inhibited by host_down{host=web-1}",
    )
    assert mute(cpu1, now=T0, silences=[], rules=[], sources=[]) is None


# ---- schedule and flush ---------------------------------------------------------------------

R = Route(receiver="r", group_by=("rule",), group_wait=30, group_interval=300, repeat_interval=3600)


def test_touch_schedules_group_wait_then_group_interval() -> None:
    g = touch(None, R, "r|rule=x", {"rule": "x"}, 100.0)
    assert (g.started_at, g.next_flush_at) == (100.0, 130.0)
    assert touch(g, R, g.key, g.labels, 120.0).next_flush_at == 130.0  # still group_wait
    sent = GroupState(g.key, "r", "route", g.labels, 100.0, None, last_sent_at=130.0)
    assert touch(sent, R, g.key, g.labels, 200.0).next_flush_at == 430.0
    assert touch(sent, R, g.key, g.labels, 900.0).next_flush_at == 900.0


def test_a_group_is_never_flushed_early() -> None:
    g = GroupState("k", "r", "route", {}, 0.0, 50.0, last_sent_at=10.0)
    early = flush(g, [], {}, R, 40.0)
    assert early.decision.reason is Reason.NOT_DUE and early.group == g
    spaced = flush(g, [], {}, R, 60.0)  # due, but the last message was 50 s ago
    assert spaced.decision.action is Action.SKIP
    assert spaced.group is not None and spaced.group.next_flush_at == 310.0


def test_times_rounded_to_microseconds_by_postgres_are_still_due() -> None:
    a = alert("cpu", "h1")
    sent = 1795327485.859634  # read back from timestamptz (rounded to the microsecond)
    g = GroupState("k", "r", "route", {}, sent - 30, sent + 3600, sent, frozenset({a.key}))
    now = 1795331085.8596337  # the clock: a third of a microsecond before the stored time
    result = flush(g, [a], {}, R, now)
    assert result.decision.reason is Reason.REPEAT
    assert result.group is not None and result.group.next_flush_at == now + 3600


# ---- ordering of records ------------------------------------------------------------------


def test_newer_transitions_win_replays_and_pending_are_ignored() -> None:
    firing = decode(transition("cpu", "h1", "firing", episode=0))
    resolved = decode(transition("cpu", "h1", "resolved", episode=0, at=50))
    again = decode(transition("cpu", "h1", "firing", episode=100))
    pend = decode(transition("cpu", "h1", "pending", episode=200))
    assert isinstance(firing, Change) and isinstance(resolved, Change)
    assert isinstance(again, Change) and isinstance(pend, Change)
    a, how = apply(None, firing)
    assert how is Applied.NEW
    b, how = apply(a, resolved)
    assert how is Applied.CHANGED and b is not None and b.state == "resolved"
    assert apply(b, firing) == (b, Applied.STALE)
    assert apply(b, resolved) == (b, Applied.STALE)
    c, how = apply(b, again)
    assert how is Applied.CHANGED and c is not None and c.episode == round((T0 + 100) * 1000)
    assert apply(c, pend) == (c, Applied.IGNORED)


def test_an_ack_marks_the_firing_episode_only() -> None:
    a = alert("cpu", "h1")
    other = Ack(a.fingerprint, a.fingerprint + ":1", "ann", T0)
    assert apply_ack(a, other) == (a, Applied.ACK_STALE)
    acked, how = apply_ack(a, Ack(a.fingerprint, a.incident_id, "ann", T0))
    assert how is Applied.ACKED and acked is not None and acked.acknowledged
    assert apply_ack(acked, Ack(a.fingerprint, a.incident_id, "bob", T0))[1] is Applied.ACK_STALE
    res = decode(transition("cpu", "h1", "resolved", at=10))
    assert isinstance(res, Change)
    done, _ = apply(acked, res)
    assert done is not None and done.acknowledged and done.ack_by == "ann"


def test_malformed_records_raise() -> None:
    with pytest.raises(KeyError):
        decode({"type": "transition", "rule": "x"})
    bad = transition("cpu", "h1", "firing")
    bad["to_state"] = "exploded"
    with pytest.raises(ValueError, match="exploded"):
        decode(bad)


# ---- outbox rows --------------------------------------------------------------------------


def test_payload_follows_the_contract() -> None:
    book = Groups(policy(group_by=("rule", "host")))
    (sent,) = run(book, [(0, fires("nginx_5xx", "web-1", severity="critical"))], 60)
    p = sent.row.payload
    assert set(p) == {
        "version", "receiver", "group_key", "group_labels", "status", "kind", "alerts",
        "truncated", "live_url", "grafana_url",
    }  # fmt: skip
    assert (p["version"], p["receiver"], p["status"], p["kind"]) == (
        1,
        "ops-slack",
        "firing",
        "firing",
    )
    (a,) = p["alerts"]
    assert set(a) == {
        "fingerprint", "rule", "severity", "labels", "annotations", "value", "threshold",
        "state", "starts_at", "ends_at", "incident_id", "acknowledged",
    }  # fmt: skip
    assert (a["rule"], a["severity"], a["state"], a["ends_at"]) == (
        "nginx_5xx",
        "critical",
        "firing",
        None,
    )
    assert a["starts_at"] == T0
    assert sent.row.transition_id is not None and sent.row.transition_id.endswith(
        f":firing:{round(T0 * 1000)}"
    )


def test_messages_list_at_most_twenty_alerts() -> None:
    book = Groups(policy())
    (sent,) = run(book, [(0, fires("cpu", f"h{i:02d}")) for i in range(25)], 60)
    assert len(sent.row.payload["alerts"]) == MAX_ALERTS
    assert sent.row.payload["truncated"] == 5


def test_idempotency_keys_are_stable_and_distinct() -> None:
    key = idempotency_key("r|rule=x", Action.SEND, Kind.FIRING, ["b:firing:1", "a:firing:1"], 0)
    assert key == idempotency_key(
        "r|rule=x", Action.SEND, Kind.FIRING, ["a:firing:1", "b:firing:1"], 0
    )
    others = {
        idempotency_key("r2|rule=x", Action.SEND, Kind.FIRING, ["a:firing:1", "b:firing:1"], 0),
        idempotency_key("r|rule=x", Action.SEND, Kind.REPEAT, ["a:firing:1", "b:firing:1"], 1),
        idempotency_key("r|rule=x", Action.SEND, Kind.FIRING, ["a:firing:2", "b:firing:1"], 0),
        idempotency_key("r|rule=x", Action.SUPPRESS, Kind.FIRING, ["a:firing:1", "b:firing:1"], 0),
    }
    assert key not in others and len(others) == 4


def test_the_same_timeline_twice_gives_the_same_rows() -> None:
    events = [(0, fires("cpu", "h1")), (60, fires("cpu", "h2")), (900, resolves("cpu", "h1"))]
    one = [s.row for s in run(Groups(policy()), events, 20_000)]
    two = [s.row for s in run(Groups(policy()), events, 20_000)]
    assert [r.idempotency_key for r in one] == [r.idempotency_key for r in two]
    assert len({r.idempotency_key for r in one}) == len(one)


def test_a_skip_writes_no_row() -> None:
    g = GroupState("k", "r", "route", {}, 0.0, 10.0)
    book = Groups(policy())
    from notifications.groups import Outcome

    result = flush(g, [], {}, R, 20.0)
    assert result.decision.action is Action.SKIP
    assert outbox_row(Outcome(g, result), 20.0) is None
    assert book.next_due() is None
