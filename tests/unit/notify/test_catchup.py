"""Catch-up: episodes that fired and resolved before their receiver was told (stages.flush).

Times are seconds after T0 (wall time of ingest and flush); group_by [rule], group_wait 30 s,
group_interval 5 m. A worker replaying a backlog ingests a whole episode (firing and resolved,
with their old event times) within a second of wall time: the same as an episode shorter than
group_wait. ``catch_up: notify`` (the default) tells the receiver once; ``skip`` (a deliberate
backfill) records a ``suppressed`` row with the reason instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from notifications.alerts import Update
from notifications.groups import Groups
from notifications.reasons import CatchUp, Kind, Reason
from tests.unit.notify.grouping import T0, Sent, ack, fires, policy, resolves, run

NOTIFY, SKIP = CatchUp.NOTIFY, CatchUp.SKIP

# (t, update): wall seconds of ingest; ``at`` is the event time of a resolution
SHORT = [(0, fires("cpu", "h1")), (10, resolves("cpu", "h1", at=180))]
REPLAYED = [  # a backlog: the episode's transitions arrive together, event times hours ago
    (0, fires("cpu", "h1", episode=-7200)),
    (0.2, resolves("cpu", "h1", episode=-7200, at=-7020)),
]
THREE = [(0, fires("cpu", h)) for h in ("h1", "h2", "h3")] + [
    (5, resolves("cpu", h, at=60 + i)) for i, h in enumerate(("h1", "h2", "h3"))
]
MIXED = [(0, fires("cpu", "h1")), (0, fires("cpu", "h2")), (10, resolves("cpu", "h2", at=90))]
BETWEEN = [
    (0, fires("cpu", "h1")),
    (60, fires("cpu", "h2", episode=60)),
    (90, resolves("cpu", "h2", episode=60, at=90)),
]
AGAIN = [  # told that episode 0 fired; it resolves, and episode 150 fires and resolves unseen
    (0, fires("cpu", "h1")),
    (100, resolves("cpu", "h1", at=100)),
    (150, fires("cpu", "h1", episode=150)),
    (200, resolves("cpu", "h1", episode=150, at=200)),
]


def shape(rows: list[Sent]) -> list[tuple[float, str, str, list[str], list[str], str]]:
    return [(s.t, s.row.status, s.kind, sorted(s.hosts), s.states, s.row.reason) for s in rows]


EPISODE_1 = "1 episode fired and resolved within group_wait"
UNSEEN_1 = "catch_up is skip: 1 episode fired and resolved unseen"

CASES: list[tuple[str, dict[str, Any], list[tuple[float, Update]], list[Any]]] = [
    # 0 h1 fires   10 resolves   30 group_wait: one message about the whole episode
    ("short", {}, SHORT, [(30, "pending", "resolved_episode", ["h1"], ["resolved"], EPISODE_1)]),
    ("short, skip", {"catch_up": SKIP}, SHORT,
     [(30, "suppressed", "resolved_episode", ["h1"], ["resolved"], UNSEEN_1)]),
    ("replayed", {}, REPLAYED,
     [(30, "pending", "resolved_episode", ["h1"], ["resolved"], EPISODE_1)]),
    ("replayed, skip", {"catch_up": SKIP}, REPLAYED,
     [(30, "suppressed", "resolved_episode", ["h1"], ["resolved"], UNSEEN_1)]),
    # three alerts of one group, all over within group_wait: one message listing them
    ("three", {}, THREE, [(30, "pending", "resolved_episode", ["h1", "h2", "h3"], ["resolved"] * 3,
                           "3 episodes fired and resolved within group_wait")]),
    ("three, skip", {"catch_up": SKIP}, THREE,
     [(30, "suppressed", "resolved_episode", ["h1", "h2", "h3"], ["resolved"] * 3,
       "catch_up is skip: 3 episodes fired and resolved unseen")]),
    # h2's episode rides along in the first message; h1 resolves later as usual
    ("mixed", {}, MIXED, [(30, "pending", "firing", ["h1", "h2"], ["firing", "resolved"],
                           "first notification of the group (1 firing, 1 episode fired and "
                           "resolved)")]),
    ("mixed, skip", {"catch_up": SKIP}, MIXED,
     [(30, "pending", "firing", ["h1"], ["firing"], "first notification of the group (1 firing)")]),
    # after the first message, h2's episode lies inside group_interval: an update at 330
    ("between", {}, BETWEEN, [
        (30, "pending", "firing", ["h1"], ["firing"], "first notification of the group (1 firing)"),
        (330, "pending", "update", ["h1", "h2"], ["firing", "resolved"],
         "1 episode fired and resolved within group_interval"),
    ]),
    ("between, skip", {"catch_up": SKIP}, BETWEEN, [
        (30, "pending", "firing", ["h1"], ["firing"], "first notification of the group (1 firing)"),
        (330, "suppressed", "resolved_episode", ["h2"], ["resolved"], UNSEEN_1),
    ]),
    # send_resolved: false holds back resolutions, not the only notice of an incident
    ("send_resolved false", {"send_resolved": False}, SHORT,
     [(30, "pending", "resolved_episode", ["h1"], ["resolved"], EPISODE_1)]),
    # the receiver knew episode 0 fired; episode 150 came and went before the next message
    ("again", {}, AGAIN, [
        (30, "pending", "firing", ["h1"], ["firing"], "first notification of the group (1 firing)"),
        (330, "pending", "resolved_episode", ["h1"], ["resolved"],
         "1 episode fired and resolved within group_interval"),
    ]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "events", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_catch_up_timelines(
    options: dict[str, Any], events: list[tuple[float, Update]], expected: list[Any]
) -> None:
    book = Groups(policy(**options))
    rows = run(book, events, 5000)
    assert shape(rows) == expected
    assert book.groups == {} or all(g.next_flush_at is not None for g in book.groups.values())


def test_a_resolved_episode_carries_its_times_and_ends_the_group() -> None:
    book = Groups(policy())
    [sent] = run(book, SHORT, 5000)
    payload = sent.row.payload
    assert (payload["kind"], payload["status"]) == ("resolved_episode", "resolved")
    [alert] = payload["alerts"]
    assert (alert["starts_at"], alert["ends_at"]) == (T0, T0 + 180)
    decision = sent.outcome.flush.decision
    assert (decision.reason, decision.kind) == (Reason.RESOLVED_EPISODE, Kind.RESOLVED_EPISODE)
    fingerprint = alert["fingerprint"]
    assert sent.row.transition_id == f"{fingerprint}:resolved:{T0 * 1000:.0f}"
    assert book.groups == {} and book.members == {}


def test_skip_records_the_reason_and_sends_nothing() -> None:
    book = Groups(policy(catch_up=SKIP))
    [held] = run(book, SHORT, 5000)
    assert held.outcome.flush.decision.reason is Reason.RESOLVED_UNSEEN
    assert book.groups == {}


def test_replaying_the_episode_gives_the_same_row_and_nothing_more() -> None:
    first = run(Groups(policy()), SHORT, 5000)
    book = Groups(policy())
    again = run(book, SHORT + [(100, u) for _, u in SHORT], 5000)
    assert [s.row.idempotency_key for s in again] == [s.row.idempotency_key for s in first]


@pytest.mark.parametrize("catch_up", [NOTIFY, SKIP])
def test_a_silenced_or_acknowledged_episode_is_not_news(catch_up: CatchUp) -> None:
    silenced = [
        (0, fires("cpu", "h1", silenced_by=["s-1"])),
        (10, resolves("cpu", "h1", at=60, silenced_by=["s-1"])),
    ]
    acked = [(0, fires("cpu", "h1")), (5, ack("cpu", "h1")), (10, resolves("cpu", "h1"))]
    for events in (silenced, acked):
        book = Groups(policy(catch_up=catch_up))
        assert run(book, events, 5000) == []
        assert book.groups == {}
