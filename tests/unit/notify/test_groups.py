"""Grouping on timelines: group_wait, group_interval, repeat_interval, resolved, acks, mutes.

Times are seconds after T0. Unless a test says otherwise: group_by [rule], group_wait 30 s,
group_interval 5 m, repeat_interval 4 h, send_resolved true.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.alerts import Applied
from notifications.groups import Groups
from notifications.stages import InhibitRule, Reason
from tests.unit.notify.grouping import (
    T0,
    Sent,
    ack,
    eq,
    fires,
    pending,
    policy,
    resolves,
    run,
    silence,
)

H = 3600


def test_three_alerts_within_group_wait_make_one_message() -> None:
    #  0   10   20   30
    #  a1  a2   a3   |flush: one message with a1 a2 a3
    book = Groups(policy())
    events = [(t, fires("cpu", f"h{i}", episode=t)) for i, t in ((1, 0), (2, 10), (3, 20))]
    rows = run(book, events, 60)
    # oldest first
    assert [(s.t, s.kind, s.hosts) for s in rows] == [(30, "firing", ["h1", "h2", "h3"])]
    assert rows[0].row.status == "pending"
    assert rows[0].row.reason == "first notification of the group (3 firing)"
    assert rows[0].row.payload["status"] == "firing"
    assert rows[0].row.payload["group_labels"] == {"rule": "cpu"}
    assert rows[0].row.group_key == "ops-slack|rule=cpu"


def test_a_fourth_alert_after_the_first_message_is_an_update_after_group_interval() -> None:
    #  0 a1 a2 a3   30 message   60 a4   330 (30 + group_interval) update with all four
    book = Groups(policy())
    events = [(0, fires("cpu", f"h{i}")) for i in (1, 2, 3)] + [(60, fires("cpu", "h4"))]
    rows = run(book, events, 1000)
    assert [(s.t, s.kind, len(s.hosts)) for s in rows] == [(30, "firing", 3), (330, "update", 4)]
    assert rows[1].row.reason == "1 new firing"


def test_a_change_long_after_the_last_message_goes_out_at_once() -> None:
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1")), (1000, fires("cpu", "h2"))], 2000)
    assert [(s.t, s.kind) for s in rows] == [(30, "firing"), (1000, "update")]


def test_nothing_new_repeats_only_after_repeat_interval() -> None:
    #  30 first   ... nothing ...   30+4h repeat   30+8h repeat
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1"))], 30 + 8 * H + 1)
    assert [(s.t, s.kind) for s in rows] == [
        (30, "firing"),
        (30 + 4 * H, "repeat"),
        (30 + 8 * H, "repeat"),
    ]
    assert rows[1].row.reason == "repeat_interval 4h elapsed"
    assert rows[1].row.transition_id is None
    keys = {s.row.idempotency_key for s in rows}
    assert len(keys) == 3  # each repeat is its own row


def test_all_resolved_gives_one_resolved_message_and_ends_the_group() -> None:
    #  0 a1 a2   30 firing   100 a1 resolved   200 a2 resolved   330 resolved (both)
    book = Groups(policy())
    events = [
        (0, fires("cpu", "h1")),
        (0, fires("cpu", "h2")),
        (100, resolves("cpu", "h1", at=100)),
        (200, resolves("cpu", "h2", at=200)),
    ]
    rows = run(book, events, 5000)
    assert [(s.t, s.kind, s.states) for s in rows] == [
        (30, "firing", ["firing", "firing"]),
        (330, "resolved", ["resolved", "resolved"]),
    ]
    assert rows[1].row.payload["status"] == "resolved"
    assert rows[1].row.payload["alerts"][0]["ends_at"] == T0 + 100
    assert book.groups == {} and book.members == {}


def test_some_resolved_is_an_update_then_the_rest_resolved() -> None:
    book = Groups(policy())
    events = [(0, fires("cpu", "h1")), (0, fires("cpu", "h2")), (100, resolves("cpu", "h1"))]
    events.append((1000, resolves("cpu", "h2")))
    rows = run(book, events, 5000)
    assert [(s.t, s.kind, s.states) for s in rows] == [
        (30, "firing", ["firing", "firing"]),
        (330, "update", ["firing", "resolved"]),
        (1000, "resolved", ["resolved"]),
    ]
    assert rows[1].row.reason == "1 resolved"


def test_send_resolved_false_records_one_suppressed_row() -> None:
    book = Groups(policy(send_resolved=False))
    rows = run(book, [(0, fires("cpu", "h1")), (100, resolves("cpu", "h1"))], 5000)
    assert [(s.t, s.row.status, s.row.reason) for s in rows] == [
        (30, "pending", "first notification of the group (1 firing)"),
        (330, "suppressed", "send_resolved is false"),
    ]
    assert book.groups == {}


def test_resolved_before_the_first_message_sends_one_resolved_episode() -> None:
    # catch_up: notify (the default); tests/unit/notify/test_catchup.py has the other cases
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1")), (10, resolves("cpu", "h1", at=10))], 5000)
    assert [(s.t, s.row.status, s.kind, s.states) for s in rows] == [
        (30, "pending", "resolved_episode", ["resolved"])
    ]
    assert book.groups == {}


def test_an_acknowledged_alert_is_not_repeated_but_its_resolution_is_sent() -> None:
    #  30 firing   60 ack   30+4h repeat held back (acknowledged)   5h resolved: sent
    book = Groups(policy())
    events = [(0, fires("cpu", "h1")), (60, ack("cpu", "h1")), (5 * H, resolves("cpu", "h1"))]
    rows = run(book, events, 10 * H)
    assert [(s.t, s.row.status, s.kind, s.row.reason) for s in rows] == [
        (30, "pending", "firing", "first notification of the group (1 firing)"),
        (30 + 4 * H, "suppressed", "repeat", "acknowledged"),
        (5 * H, "pending", "resolved", "all resolved"),
    ]
    assert rows[2].row.payload["alerts"][0]["acknowledged"] is True


def test_a_group_with_some_acknowledged_alerts_still_repeats_the_others() -> None:
    book = Groups(policy())
    events = [(0, fires("cpu", "h1")), (0, fires("cpu", "h2")), (60, ack("cpu", "h1"))]
    rows = run(book, events, 30 + 4 * H)
    assert [(s.t, s.row.status, s.kind) for s in rows] == [
        (30, "pending", "firing"),
        (30 + 4 * H, "pending", "repeat"),
    ]
    acked = {a["labels"]["host"]: a["acknowledged"] for a in rows[1].row.payload["alerts"]}
    assert acked == {"h1": True, "h2": False}


def test_host_down_firing_inhibits_that_hosts_other_alerts() -> None:
    #  group_by [rule, host]; host_down on web-1 mutes cpu on web-1, not cpu on web-2
    rule = InhibitRule(source=(eq("rule", "host_down"),), target=(), equal=("host",))
    book = Groups(policy(group_by=("rule", "host"), inhibit=[rule]))
    events = [
        (0, fires("host_down", "web-1", severity="critical")),
        (5, fires("cpu", "web-1")),
        (5, fires("cpu", "web-2")),
    ]
    rows = run(book, events, 100)
    got = sorted((s.row.group_key, s.row.status, s.row.reason) for s in rows)
    assert got == [
        ("ops-slack|rule=cpu,host=web-1", "suppressed", "inhibited by host_down{host=web-1}"),
        ("ops-slack|rule=cpu,host=web-2", "pending", "first notification of the group (1 firing)"),
        (
            "ops-slack|rule=host_down,host=web-1",
            "pending",
            "first notification of the group (1 firing)",
        ),
    ]


def test_inhibition_ends_when_the_source_resolves() -> None:
    rule = InhibitRule(source=(eq("rule", "host_down"),), target=(), equal=("host",))
    book = Groups(policy(group_by=("rule", "host"), inhibit=[rule]))
    events = [
        (0, fires("host_down", "web-1")),
        (5, fires("cpu", "web-1")),
        (100, resolves("host_down", "web-1")),
    ]
    rows = run(book, events, 1000)
    cpu = [s for s in rows if "rule=cpu" in s.row.group_key]
    # held back at 35, looked at again one group_interval later (335): the source is gone
    assert [(s.t, s.row.status) for s in cpu] == [(35, "suppressed"), (335, "pending")]


def test_a_silenced_alert_is_recorded_and_sent_once_the_silence_ends() -> None:
    quiet = silence("s-123", -10, 200, host="h1")
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1"))], 1000, silences=[quiet])
    assert [(s.t, s.row.status, s.row.reason) for s in rows] == [
        (30, "suppressed", "silenced by s-123"),
        (330, "pending", "first notification of the group (1 firing)"),
    ]


def test_a_held_back_message_is_the_same_row_each_time_it_is_judged() -> None:
    quiet = silence("s-1", -10, 10_000, host="h1")
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1"))], 2000, silences=[quiet])
    assert len(rows) > 1  # judged every group_interval while silenced ...
    assert len({s.row.idempotency_key for s in rows}) == 1  # ... always the same row


def test_without_silences_the_records_silenced_by_counts() -> None:
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1", silenced_by=["s-9"]))], 100)
    assert [(s.row.status, s.row.reason) for s in rows] == [("suppressed", "silenced by s-9")]


def test_a_replayed_batch_changes_nothing() -> None:
    events = [(0, fires("cpu", "h1")), (10, fires("cpu", "h2")), (50, resolves("cpu", "h1"))]
    book = Groups(policy())
    first = run(book, events, 40)
    assert len(first) == 1
    results = [book.ingest(update, T0 + 45) for _, update in events]
    assert [r.applied for r in results] == [Applied.STALE] * 3
    assert all(r.groups == () for r in results)
    later = run(book, [], 5000)  # the original schedule, nothing more
    assert [(s.t, s.kind, s.states) for s in later] == [(330, "update", ["firing", "resolved"])]
    assert [book.ingest(update, T0 + 5001).applied for _, update in events] == [Applied.STALE] * 3
    assert run(book, [], 30 + 4 * H - 1) == []


def test_routes_split_alerts_into_groups_per_receiver() -> None:
    from notifications.stages import RouteSpec

    crit = RouteSpec(receiver="ops-email", match=(eq("severity", "critical"),), continue_=True)
    events = [(0, fires("disk", "h1", severity="critical")), (0, fires("cpu", "h2"))]
    rows = run(Groups(policy(routes=[crit])), events, 60)
    # Alertmanager semantics: a matching child replaces its parent, `continue` only goes on to
    # the next siblings ...
    got = sorted((s.row.receiver, s.hosts) for s in rows)
    assert got == [("ops-email", ["h1"]), ("ops-slack", ["h2"])]
    # ... so "also to the default receiver" is a catch-all sibling after it
    rows = run(Groups(policy(routes=[crit, RouteSpec()])), events, 60)
    got = sorted((s.row.receiver, s.hosts) for s in rows)
    assert got == [("ops-email", ["h1"]), ("ops-slack", ["h1"]), ("ops-slack", ["h2"])]


def test_a_storm_of_200_alerts_of_one_rule_makes_a_handful_of_messages() -> None:
    book = Groups(policy())
    events = [(i * 0.3, fires("nginx_5xx", f"web-{i:03d}")) for i in range(200)]  # one minute
    rows = run(book, events, 3600)
    assert [(s.t, s.kind) for s in rows] == [(30, "firing"), (330, "update")]
    assert rows[0].row.payload["truncated"] == len(rows[0].outcome.flush.alerts) - 20
    assert len(rows[1].outcome.flush.alerts) == 200


def test_decisions_carry_countable_reasons() -> None:
    book = Groups(policy())
    rows = run(book, [(0, fires("cpu", "h1"))], 31)
    assert rows[0].outcome.flush.decision.reason is Reason.FIRST


# ---- property: messages of one group are never closer than group_interval -------------------

HOSTS = ["h1", "h2", "h3", "h4"]
event = st.tuples(
    st.integers(min_value=0, max_value=3000),
    st.sampled_from(HOSTS),
    st.sampled_from(["fire", "resolve", "ack"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=25), st.sampled_from([0, 10, 60]), st.sampled_from([60, 300]))
def test_never_two_messages_of_a_group_within_group_interval(
    raw: list[tuple[int, str, str]], wait: int, interval: int
) -> None:
    book = Groups(policy(group_wait=wait, group_interval=interval, repeat_interval=900))
    episodes = dict.fromkeys(HOSTS, 0)
    firing = dict.fromkeys(HOSTS, False)
    events = []
    for t, host, what in sorted(raw):
        if what == "fire" and not firing[host]:
            episodes[host] = t
            firing[host] = True
            events.append((t, fires("cpu", host, episode=t)))
        elif what == "resolve" and firing[host]:
            firing[host] = False
            events.append((t, resolves("cpu", host, episode=episodes[host], at=t)))
        elif what == "ack" and firing[host]:
            events.append((t, ack("cpu", host, episode=episodes[host])))
    rows = run(book, events, 6000)
    sent = pending(rows)
    for a, b in itertools.pairwise(sent):
        ended = a.kind == "resolved" or (
            b.kind == "firing" and b.outcome.group.last_sent_at is None
        )
        if not ended:
            assert b.t - a.t >= interval, (a.t, a.kind, b.t, b.kind)

    # every message says something new (a new alert, episode or state), or is a repeat
    def said(s: Sent) -> set[str]:
        return {x["incident_id"] + x["state"] for x in s.row.payload["alerts"]}

    for a, b in itertools.pairwise(sent):
        if b.kind != "repeat":
            assert said(a) != said(b), (a.t, b.t)
    # once everything resolved and was flushed, nothing is left behind
    if not any(firing.values()):
        assert book.groups == {}
