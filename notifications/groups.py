"""Alerts, aggregation groups and their members, driven by the stages (pure, in memory).

:class:`Groups` is the whole notifier logic without I/O: ``ingest`` applies one
``lookout.alerts`` update (ordering, routing, membership, schedule) and ``flush`` decides for the
due groups. The Postgres store (sinks/notify/store.py) loads the rows a batch or a flush needs
into a ``Groups``, runs it and writes back what it changed (the ``changed_*``/``joined``/``left``
sets), so the unit tests drive exactly the logic production runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerting.labels import matches_all
from alerting.silences import Silence
from notifications.alerts import Ack, Alert, Applied, Change, Update, apply, apply_ack
from notifications.stages import (
    EPSILON,
    Flush,
    GroupState,
    InhibitRule,
    Mute,
    Route,
    Routing,
    flush,
    group_key,
    group_labels,
    mute,
    route,
    touch,
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The route tree and the inhibit rules (from the notify file)."""

    root: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()

    def route_at(self, path: str, receiver: str) -> Route:
        """The route at ``path``; if the file changed and it is gone, the root's timings with
        ``receiver`` (a group never changes receiver)."""
        for r in self.root.walk():
            if r.path == path and r.receiver == receiver:
                return r
        return replace(self.root, receiver=receiver, routes=(), path=path)

    def is_source(self, alert: Alert) -> bool:
        """True if ``alert`` matches the source side of some inhibit rule."""
        labels = alert.match_labels
        return any(matches_all(rule.source, labels) for rule in self.inhibit_rules)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one update did: how it applied, where it was routed, the groups it touched."""

    fingerprint: str
    applied: Applied
    routing: Routing | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """One group's flush: the group as it was, and the stages' verdict."""

    group: GroupState
    flush: Flush


@dataclass
class Groups:
    """Alerts by fingerprint, groups by key, members per group; tracks what changed."""

    policy: Policy
    alerts: dict[str, Alert] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    changed_alerts: set[str] = field(default_factory=set)
    changed_groups: set[str] = field(default_factory=set)
    deleted_groups: set[str] = field(default_factory=set)
    joined: set[tuple[str, str]] = field(default_factory=set)
    left: set[tuple[str, str]] = field(default_factory=set)

    # ---- reading -------------------------------------------------------------------------
    def groups_of(self, fingerprint: str) -> list[str]:
        """Keys of the groups ``fingerprint`` is a member of."""
        return sorted(k for k, fps in self.members.items() if fingerprint in fps)

    def routed_keys(self, update: Update) -> list[str]:
        """Group keys a firing transition would join (to lock them before :meth:`ingest`)."""
        if not isinstance(update, Change) or not update.alert.firing:
            return []
        labels = update.alert.match_labels
        return sorted({group_key(r, labels) for r in route(self.policy.root, labels).routes})

    def due(self, now: float) -> list[str]:
        """Keys of the groups due at ``now``, oldest due first."""
        due = [(g.next_flush_at, k) for k, g in self.groups.items() if _due(g, now)]
        return [k for _, k in sorted(due)]

    def next_due(self) -> float | None:
        """The earliest ``next_flush_at`` of all groups."""
        times = [g.next_flush_at for g in self.groups.values() if g.next_flush_at is not None]
        return min(times) if times else None

    # ---- ingest ----------------------------------------------------------------------------
    def ingest(self, update: Update, now: float) -> Ingested:
        """Apply one update at wall time ``now``."""
        if isinstance(update, Ack):
            acked, applied = apply_ack(self.alerts.get(update.fingerprint), update)
            if acked is not None and applied is Applied.ACKED:
                self.alerts[update.fingerprint] = acked
                self.changed_alerts.add(update.fingerprint)
            return Ingested(update.fingerprint, applied)
        fp = update.alert.fingerprint
        new, applied = apply(self.alerts.get(fp), update)
        if new is None or applied not in (Applied.NEW, Applied.CHANGED):
            return Ingested(fp, applied)
        self.alerts[fp] = new
        self.changed_alerts.add(fp)
        touched: dict[str, tuple[Route, dict[str, str]]] = {}
        for key in self.groups_of(fp):
            g = self.groups.get(key)
            if g is not None:
                touched[key] = (self.policy.route_at(g.route, g.receiver), g.labels)
        routing = None
        if new.firing:
            labels = new.match_labels
            routing = route(self.policy.root, labels)
            for r in routing.routes:
                key = group_key(r, labels)
                if key not in touched:
                    existing = self.groups.get(key)
                    if existing is not None:
                        touched[key] = (self.policy.route_at(existing.route, r.receiver), {})
                    else:
                        touched[key] = (r, group_labels(r, labels))
                if fp not in self.members.setdefault(key, set()):
                    self.members[key].add(fp)
                    self.joined.add((key, fp))
                    self.left.discard((key, fp))
        for key, (r, labels) in touched.items():
            self.groups[key] = touch(self.groups.get(key), r, key, labels, now)
            self.changed_groups.add(key)
            self.deleted_groups.discard(key)
        return Ingested(fp, applied, routing, tuple(sorted(touched)))

    # ---- flush -----------------------------------------------------------------------------
    def flush(
        self,
        now: float,
        *,
        silences: Sequence[Silence] | None = None,
        sources: Iterable[Alert] | None = None,
        keys: Iterable[str] | None = None,
    ) -> list[Outcome]:
        """Flush the due groups (or ``keys``): decide, then apply the verdict to the state.

        ``silences``: the active silences (None: trust each record's ``silenced_by``);
        ``sources``: firing alerts that may inhibit (default: the alerts held here).
        """
        pool = self.alerts.values() if sources is None else sources
        srcs = [a for a in pool if a.firing and self.policy.is_source(a)]
        outcomes = []
        for key in self.due(now) if keys is None else sorted(keys):
            group = self.groups.get(key)
            if group is None:
                continue
            r = self.policy.route_at(group.route, group.receiver)
            held = sorted(self.members.get(key, ()))
            members = [self.alerts[fp] for fp in held if fp in self.alerts]
            mutes = _mutes(members, now, silences, self.policy.inhibit_rules, srcs)
            result = flush(group, members, mutes, r, now)
            self._apply(key, result)
            outcomes.append(Outcome(group, result))
        return outcomes

    def _apply(self, key: str, result: Flush) -> None:
        for fp in result.drop:
            if fp in self.members.get(key, ()):
                self.members[key].discard(fp)
                self.left.add((key, fp))
                self.joined.discard((key, fp))
        if result.group is None:
            self.groups.pop(key, None)
            for fp in self.members.pop(key, set()):
                self.left.add((key, fp))
            self.deleted_groups.add(key)
            self.changed_groups.discard(key)
        else:
            self.groups[key] = result.group
            self.changed_groups.add(key)


def _due(g: GroupState, now: float) -> bool:
    return g.next_flush_at is not None and g.next_flush_at <= now + EPSILON


def _mutes(
    members: Sequence[Alert],
    now: float,
    silences: Sequence[Silence] | None,
    rules: Sequence[InhibitRule],
    sources: Sequence[Alert],
) -> Mapping[str, Mute]:
    out: dict[str, Mute] = {}
    for a in members:
        m = mute(a, now=now, silences=silences, rules=rules, sources=sources)
        if m is not None:
            out[a.fingerprint] = m
    return out
