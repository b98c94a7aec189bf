"""Helpers for the grouping tests: transition records, a policy, and a timeline driver.

Times are seconds after T0 (a fixed UTC instant); the driver flushes every group exactly when it
is due, between the events, the way the flush loop does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerting.labels import Matcher, MatchOp, fingerprint
from alerting.silences import Silence
from alerting.transitions import Status, Transition
from notifications.alerts import Ack, Update, decode
from notifications.groups import Groups, Outcome, Policy
from notifications.message import OutboxRow, outbox_row
from notifications.stages import CatchUp, InhibitRule, RouteSpec, build

T0 = datetime(2025, 11, 20, 12, 0, tzinfo=UTC).timestamp()


def labels_of(rule: str, host: str, severity: str = "warning", **extra: str) -> dict[str, str]:
    """Alert labels as the engine makes them (series labels, alertname, severity)."""
    return {"host": host, **extra, "alertname": rule, "severity": severity}


def transition(
    rule: str,
    host: str,
    to: str,
    *,
    episode: float = 0.0,
    at: float | None = None,
    severity: str = "warning",
    silenced_by: Sequence[str] = (),
    **extra: str,
) -> dict[str, Any]:
    """A ``lookout.alerts`` transition record (event times are T0 + seconds)."""
    labels = labels_of(rule, host, severity, **extra)
    fp = fingerprint(labels)
    start = T0 + episode
    ms = round(start * 1000)
    frm = {"pending": "inactive", "firing": "pending", "resolved": "firing"}[to]
    tr = Transition(
        id=f"{fp}:{to}:{ms}",
        rule=rule,
        fingerprint=fp,
        labels=labels,
        from_state=Status(frm),
        to_state=Status(to),
        event_time=T0 + (at if at is not None else episode),
        value=1.0,
        score=1.0,
        threshold=0.5,
        severity=severity,
        annotations={"summary": f"{rule} on {host}"},
        incident_id=f"{fp}:{ms}",
        active_at=start,
        fired_at=start if to != "pending" else None,
        silenced_by=tuple(silenced_by),
    )
    record = tr.to_record()
    record["type"] = "transition"
    record["host"] = host
    return record


def fires(rule: str, host: str, **kw: Any) -> Update:
    """The firing update of ``rule`` on ``host``."""
    return decode(transition(rule, host, "firing", **kw))


def resolves(rule: str, host: str, **kw: Any) -> Update:
    """The resolved update of ``rule`` on ``host`` (same episode as :func:`fires`)."""
    return decode(transition(rule, host, "resolved", **kw))


def ack(rule: str, host: str, *, episode: float = 0.0, **extra: str) -> Update:
    """An ack of the episode of ``rule`` on ``host``."""
    fp = fingerprint(labels_of(rule, host, **extra))
    return Ack(fp, f"{fp}:{round((T0 + episode) * 1000)}", "ann", T0)


def policy(
    *,
    group_by: Sequence[str] = ("rule",),
    group_wait: float = 30,
    group_interval: float = 300,
    repeat_interval: float = 4 * 3600,
    send_resolved: bool = True,
    catch_up: CatchUp = CatchUp.NOTIFY,
    routes: Sequence[RouteSpec] = (),
    inhibit: Sequence[InhibitRule] = (),
    receiver: str = "ops-slack",
) -> Policy:
    """A policy with one root route (and optional children)."""
    root = build(
        RouteSpec(
            receiver=receiver,
            group_by=tuple(group_by),
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
            send_resolved=send_resolved,
            catch_up=catch_up,
            routes=tuple(routes),
        )
    )
    return Policy(root, tuple(inhibit))


def eq(label: str, value: str) -> Matcher:
    """An equality matcher."""
    return Matcher(label, MatchOp.EQ, value)


def silence(sid: str, start: float, end: float, **matchers: str) -> Silence:
    """A silence over ``[T0+start, T0+end)``."""
    return Silence(sid, tuple(eq(k, v) for k, v in matchers.items()), T0 + start, T0 + end)


@dataclass
class Sent:
    """A row the timeline produced, at seconds after T0."""

    t: float
    row: OutboxRow
    outcome: Outcome

    @property
    def kind(self) -> str:
        return str(self.row.payload["kind"])

    @property
    def hosts(self) -> list[str]:
        return [a["labels"]["host"] for a in self.row.payload["alerts"]]

    @property
    def states(self) -> list[str]:
        return [a["state"] for a in self.row.payload["alerts"]]


def run(
    book: Groups,
    events: Iterable[tuple[float, Update]],
    until: float,
    *,
    silences: Sequence[Silence] | None = None,
) -> list[Sent]:
    """Feed ``events`` (seconds after T0) and flush every due group up to ``until``."""
    out: list[Sent] = []

    def flush_until(t: float) -> None:
        while True:
            nxt = book.next_due()
            if nxt is None or nxt > T0 + t:
                return
            for outcome in book.flush(nxt, silences=silences):
                row = outbox_row(outcome, nxt)
                if row is not None:
                    out.append(Sent(nxt - T0, row, outcome))

    for t, update in sorted(events, key=lambda e: e[0]):
        flush_until(t)
        book.ingest(update, T0 + t)
    flush_until(until)
    return out


def pending(rows: list[Sent]) -> list[Sent]:
    """The rows that are messages to send."""
    return [s for s in rows if s.row.status == "pending"]
