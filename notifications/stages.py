"""Notification stages as small pure decisions, the way Alertmanager users expect them.

Each stage returns a decision with a reason (:class:`Reason`, easy to log and count; the
vocabulary is in notifications/reasons.py):

* **route** (notifications/routes.py, re-exported here): the route tree; the root route matches
  every alert (the default route); a child matches when all its ``match`` / ``match_re``
  matchers hold; the first matching child wins unless it says ``continue: true``; a route none of
  whose children match is the answer itself.
  Children inherit ``receiver``, ``group_by``, the timings and ``send_resolved`` (:func:`build`).
* **group key**: ``receiver|label=value,...`` over ``group_by`` (``['...']``: every label).
* **schedule** (:func:`touch`): a new group flushes ``group_wait`` after its first alert; a
  change to a group that has sent a message flushes ``group_interval`` after that message (or at
  once when that is past). Messages of one group are never closer than ``group_interval``.
* **flush** (:func:`flush`): what changed since the last message. New firing alerts -> a message
  (``firing`` the first time, then ``update``); alerts the receiver knew as firing that resolved
  -> ``resolved`` (all of them) or ``update`` (some), unless ``send_resolved`` is false; nothing
  new -> a ``repeat`` after ``repeat_interval``, not while every firing alert is acknowledged.
* **catch-up** (part of :func:`flush`): an *unseen episode* is an alert that fired and resolved
  before its receiver was told it fired (a worker catching up a backlog processes a whole
  incident within a second of wall time; a short incident can also lie inside one
  ``group_wait`` or ``group_interval``). With the route's ``catch_up: notify`` (the default)
  it is never lost: it rides along in the message the flush sends anyway, or, when nothing
  else is new, makes a message of its own, kind ``resolved_episode`` ("fired 12:07, resolved
  12:10, lasted 3m"; several in one group: one message listing them). ``send_resolved: false``
  does not hold it back: it is the only notice of an incident. With ``catch_up: skip`` (a
  deliberate historical backfill) it is left out, and a flush with nothing else to say records
  it as ``suppressed`` (reason ``resolved_unseen``). Only an alert's latest episode is kept:
  an alert that fired again meanwhile is shown firing.
* **mute** (:func:`mute`): silences (active now, from ``lookout.silences``; else the record's
  ``silenced_by``) and inhibition (a *firing* source alert mutes target alerts whose ``equal``
  labels have the same values; never itself) take alerts out of messages. A message that would
  have gone out but is held back is recorded as ``suppressed`` with the reason.

Times are wall-clock epoch seconds passed in as ``now``: grouping waits are operator time, not
event time (a replayed backlog must not be notified as if hours passed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from alerting.labels import Matcher, matches_all
from alerting.silences import Silence, silencing
from alerting.suppression import Suppression
from notifications.alerts import Alert
from notifications.reasons import Action, CatchUp, Kind, Reason
from notifications.routes import (
    ALL_LABELS,
    Route,
    RouteSpec,
    Routing,
    build,
    group_key,
    group_labels,
    route,
)

# Times round-trip through Postgres at microsecond precision: "due" allows for that.
EPSILON = 1e-3


# ---- muting: silences and inhibition ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """A firing alert matching ``source`` mutes alerts matching ``target`` with equal labels."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mute:
    """Why an alert is kept out of messages: silenced or inhibited, with the text for the row."""

    why: Suppression
    detail: str


def inhibitor(
    alert: Alert, rules: Sequence[InhibitRule], sources: Iterable[Alert]
) -> tuple[Alert, InhibitRule] | None:
    """The firing alert (and rule) that inhibits ``alert``, or None.

    An alert never inhibits itself; an alert matching both sides of a rule is only inhibited by
    sources that do not also match the target (so two such alerts cannot mute each other).
    """
    labels = alert.match_labels
    candidates = [s for s in sources if s.firing and s.fingerprint != alert.fingerprint]
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        both = matches_all(rule.source, labels)
        for src in candidates:
            slabels = src.match_labels
            if not matches_all(rule.source, slabels):
                continue
            if both and matches_all(rule.target, slabels):
                continue
            if all(slabels.get(name) == labels.get(name) for name in rule.equal):
                return src, rule
    return None


def mute(
    alert: Alert,
    *,
    now: float,
    silences: Sequence[Silence] | None = None,
    rules: Sequence[InhibitRule] = (),
    sources: Iterable[Alert] = (),
) -> Mute | None:
    """Silenced (active silences at ``now``; without them, the record's ``silenced_by``) or
    inhibited; None when the alert may be notified."""
    ids = alert.silenced_by if silences is None else silencing(alert.labels, silences, now)
    if ids:
        return Mute(Suppression.SILENCED, "silenced by " + ", ".join(ids))
    found = inhibitor(alert, rules, sources)
    if found is not None:
        src, rule = found
        shown = ",".join(f"{name}={src.match_labels.get(name, '')}" for name in rule.equal)
        return Mute(Suppression.INHIBITED, f"inhibited by {src.rule}{{{shown}}}")
    return None


# ---- groups: schedule and flush -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupState:
    """One aggregation group. ``notified``: keys (``fp:state:episode``) of the last message;
    ``last_sent_at``: when it was written (None: the group has not sent yet)."""

    key: str
    receiver: str
    route: str
    labels: dict[str, str]
    started_at: float
    next_flush_at: float | None
    last_sent_at: float | None = None
    notified: frozenset[str] = frozenset()
    repeat_seq: int = 0


def touch(
    group: GroupState | None, r: Route, key: str, labels: dict[str, str], now: float
) -> GroupState:
    """The group after one of its alerts changed at ``now``: when it must flush next."""
    if group is None:
        return GroupState(key, r.receiver, r.path, labels, now, now + r.group_wait)
    if group.last_sent_at is None:
        earliest = group.started_at + r.group_wait
    else:
        earliest = group.last_sent_at + r.group_interval
    due = max(now, earliest)
    if group.next_flush_at is not None:
        due = min(due, group.next_flush_at)
    return replace(group, next_flush_at=due)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a flush decided: action, reason, the row text, and the message kind."""

    action: Action
    reason: Reason
    detail: str
    kind: Kind | None = None


@dataclass(frozen=True, slots=True)
class Flush:
    """A flush's outcome: the decision, the message's alerts, the group after it (None: the
    group is empty and ends), and the members to drop."""

    decision: Decision
    alerts: tuple[Alert, ...] = ()
    group: GroupState | None = None
    drop: frozenset[str] = frozenset()


def _firing_key(a: Alert) -> str:
    return f"{a.fingerprint}:firing:{a.episode}"


def flush(
    group: GroupState,
    members: Sequence[Alert],
    mutes: Mapping[str, Mute],
    r: Route,
    now: float,
) -> Flush:
    """Decide what a due group sends (see the module docstring); ``mutes`` by fingerprint."""
    if group.next_flush_at is None or now + EPSILON < group.next_flush_at:
        return Flush(Decision(Action.SKIP, Reason.NOT_DUE, "not due"), group=group)
    if group.last_sent_at is not None and now + EPSILON < group.last_sent_at + r.group_interval:
        later = replace(group, next_flush_at=group.last_sent_at + r.group_interval)
        return Flush(Decision(Action.SKIP, Reason.NOT_DUE, "group_interval"), group=later)
    first = group.last_sent_at is None
    live = [a for a in members if a.fingerprint not in mutes]
    muted = [a for a in members if a.fingerprint in mutes]
    firing = _ordered(a for a in live if a.firing)
    told = {k for k in group.notified if ":firing:" in k}
    resolved_news = _ordered(a for a in live if not a.firing and _firing_key(a) in told)
    unseen = unseen_episodes(group, live)
    episodes = unseen if r.catch_up is CatchUp.NOTIFY else []
    news = [a for a in firing if a.key not in group.notified and not a.acknowledged]
    muted_news = [
        a for a in muted if (a.firing and a.key not in group.notified) or _firing_key(a) in told
    ]
    repeat_due = (
        not first
        and group.last_sent_at is not None
        and (now + EPSILON >= group.last_sent_at + r.repeat_interval)
    )
    send, kind = Action.SEND, Kind.UPDATE
    sent_alerts = firing + resolved_news + episodes
    seq = group.repeat_seq
    as_notified = True
    also = f", {_episodes(len(episodes))} fired and resolved" if episodes else ""
    if news:
        kind = Kind.FIRING if first else Kind.UPDATE
        reason = Reason.FIRST if first else Reason.NEW_FIRING
        detail = (
            f"first notification of the group ({len(firing)} firing{also})"
            if first
            else f"{len(news)} new firing{also}"
        )
    elif resolved_news and r.send_resolved:
        if firing:
            reason, detail = Reason.SOME_RESOLVED, f"{len(resolved_news)} resolved{also}"
        else:
            kind, reason, detail = Kind.RESOLVED, Reason.ALL_RESOLVED, f"all resolved{also}"
    elif episodes:
        kind = Kind.RESOLVED_EPISODE if not firing else (Kind.FIRING if first else Kind.UPDATE)
        sent_alerts = firing + episodes
        within = "group_wait" if first else "group_interval"
        reason = Reason.RESOLVED_EPISODE
        detail = f"{_episodes(len(episodes))} fired and resolved within {within}"
    elif resolved_news and not firing:
        kind = Kind.RESOLVED
        send, reason, detail = Action.SUPPRESS, Reason.SEND_RESOLVED_FALSE, "send_resolved is false"
    elif firing and (repeat_due or first):
        kind = Kind.REPEAT if repeat_due else Kind.FIRING
        sent_alerts = firing
        if repeat_due:
            seq += 1
        if any(not a.acknowledged for a in firing):
            reason, detail = Reason.REPEAT, f"repeat_interval {_span(r.repeat_interval)} elapsed"
        else:
            send, reason, detail = Action.SUPPRESS, Reason.ACKNOWLEDGED, "acknowledged"
    elif muted_news:
        sent_alerts = _ordered(muted_news)
        why = mutes[sent_alerts[0].fingerprint]
        send, kind = Action.SUPPRESS, (Kind.FIRING if first else Kind.UPDATE)
        reason = Reason.SILENCED if why.why is Suppression.SILENCED else Reason.INHIBITED
        detail = why.detail
        as_notified = False
    elif unseen:
        send, kind, sent_alerts, as_notified = Action.SUPPRESS, Kind.RESOLVED_EPISODE, unseen, False
        reason = Reason.RESOLVED_UNSEEN
        detail = f"catch_up is skip: {_episodes(len(unseen))} fired and resolved unseen"
    else:
        send, sent_alerts, as_notified = Action.SKIP, [], False
        reason, detail = Reason.NOTHING_NEW, "nothing new"
    drop = frozenset(a.fingerprint for a in members if not a.firing)
    after = group
    if as_notified:
        after = replace(
            group,
            last_sent_at=now,
            notified=frozenset(a.key for a in sent_alerts),
            repeat_seq=seq,
        )
    remaining = [a for a in members if a.fingerprint not in drop]
    decision = Decision(send, reason, detail, kind if send is not Action.SKIP else None)
    if not remaining:
        return Flush(decision, tuple(sent_alerts), None, drop)
    nxt = _next_flush(after, remaining, mutes, r, now)
    return Flush(decision, tuple(sent_alerts), replace(after, next_flush_at=nxt), drop)


def unseen_episodes(group: GroupState, alerts: Iterable[Alert]) -> list[Alert]:
    """Resolved alerts whose episode the group's receiver was never told fired (nor resolved);
    an acknowledged one was seen by someone, so it is not unseen."""
    told = group.notified
    return _ordered(
        a
        for a in alerts
        if not a.firing and _firing_key(a) not in told and a.key not in told and not a.acknowledged
    )


def _next_flush(
    group: GroupState, remaining: Sequence[Alert], mutes: Mapping[str, Mute], r: Route, now: float
) -> float | None:
    """When a group with ``remaining`` (firing) members must look again, if ever unprompted."""
    times: list[float] = []
    if any(a.fingerprint in mutes for a in remaining):
        times.append(now + r.group_interval)  # a silence may end, an inhibitor resolve
    if group.last_sent_at is None:
        times.append(now + r.group_interval)
    elif any(a.firing and a.fingerprint not in mutes for a in remaining):
        times.append(group.last_sent_at + r.repeat_interval)
    if not times:
        return None
    floor = group.last_sent_at + r.group_interval if group.last_sent_at is not None else now
    due = max(min(times), floor)
    return due if due > now + EPSILON else now + r.group_interval


def _ordered(alerts: Iterable[Alert]) -> list[Alert]:
    """Firing first, then oldest first; stable across runs."""
    return sorted(alerts, key=lambda a: (not a.firing, a.starts_at or 0.0, a.fingerprint))


def _episodes(count: int) -> str:
    return f"{count} episode{'s' if count != 1 else ''}"


def _span(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


__all__ = [
    "ALL_LABELS",
    "Action",
    "CatchUp",
    "Decision",
    "Flush",
    "GroupState",
    "InhibitRule",
    "Kind",
    "Mute",
    "Reason",
    "Route",
    "RouteSpec",
    "Routing",
    "build",
    "flush",
    "group_key",
    "group_labels",
    "inhibitor",
    "mute",
    "route",
    "touch",
    "unseen_episodes",
]
