"""A flush outcome as an outbox row: payload (docs/NOTIFY-CONTRACT.md) and idempotency key (pure).

The idempotency key is a hash of the group key (receiver included), the action and message kind,
the alerts' ``fingerprint:state:episode`` keys, the group's repeat sequence and, for a held-back
message, the reason. The same notification always gets the same key, so an outbox insert
(``ON CONFLICT (idempotency_key) DO NOTHING``) repeated after a crash, a replay of
``lookout.alerts`` or by a second worker adds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from notifications.alerts import Alert
from notifications.groups import Outcome
from notifications.stages import Action, Kind

PAYLOAD_VERSION = 1
MAX_ALERTS = 20
STATUS = {Action.SEND: "pending", Action.SUPPRESS: "suppressed"}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One ``notifications`` row to insert."""

    idempotency_key: str
    group_key: str
    transition_id: str | None
    receiver: str
    status: str  # pending | suppressed
    reason: str
    payload: dict[str, Any]
    created_at: float


def idempotency_key(
    group_key: str,
    action: Action,
    kind: Kind | None,
    alert_keys: list[str],
    repeat_seq: int,
    detail: str = "",
) -> str:
    """The stable key of one notification (see the module docstring)."""
    parts = [
        group_key,
        action.value,
        kind.value if kind else "",
        ",".join(sorted(alert_keys)),
        str(repeat_seq),
        detail if action is Action.SUPPRESS else "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def newest_transition(alerts: tuple[Alert, ...] | list[Alert]) -> str | None:
    """The id of the newest transition among ``alerts``."""
    if not alerts:
        return None
    return max(alerts, key=lambda a: (a.ends_at or a.starts_at or 0.0, a.order)).transition_id


def outbox_row(
    outcome: Outcome,
    now: float,
    *,
    live_url: str | None = None,
    grafana_url: str | None = None,
) -> OutboxRow | None:
    """The row a flush outcome writes (None for a skip)."""
    decision = outcome.flush.decision
    status = STATUS.get(decision.action)
    if status is None:
        return None
    group = outcome.group
    after = outcome.flush.group
    seq = after.repeat_seq if after is not None else group.repeat_seq
    alerts = list(outcome.flush.alerts)
    kind = decision.kind or Kind.UPDATE
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "receiver": group.receiver,
        "group_key": group.key,
        "group_labels": dict(group.labels),
        "status": "firing" if any(a.firing for a in alerts) else "resolved",
        "kind": kind.value,
        "alerts": [a.to_payload() for a in alerts[:MAX_ALERTS]],
        "truncated": max(0, len(alerts) - MAX_ALERTS),
        "live_url": live_url,
        "grafana_url": grafana_url,
    }
    key = idempotency_key(
        group.key, decision.action, kind, [a.key for a in alerts], seq, decision.detail
    )
    transition = None if kind is Kind.REPEAT else newest_transition(alerts)
    return OutboxRow(
        idempotency_key=key,
        group_key=group.key,
        transition_id=transition,
        receiver=group.receiver,
        status=status,
        reason=decision.detail,
        payload=payload,
        created_at=now,
    )
