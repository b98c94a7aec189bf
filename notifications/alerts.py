"""The notifier's view of an alert, built from ``lookout.alerts`` records (pure).

A record is a transition (``alerting.transitions.Transition.to_record`` plus ``type``) or an ack
(``{"type": "ack", "incident_id", "by", "at", ...}``). Only ``firing`` and ``resolved`` matter
to notifications; ``pending`` and ``inactive`` are ignored.

Ordering makes replays harmless: transitions of one fingerprint are ordered by
``(episode, rank)`` (the episode is the incident's start in ms, from ``incident_id``;
pending < firing < resolved within it). :func:`apply` ignores a transition that is not newer than
the one already applied, so reading ``lookout.alerts`` again after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

FIRING = "firing"
RESOLVED = "resolved"
RANK = {"inactive": 0, "pending": 1, "firing": 2, "resolved": 3}


class Applied(StrEnum):
    """What :func:`apply` / :func:`apply_ack` did with an update."""

    NEW = "new"  # first record of this alert
    CHANGED = "changed"  # a newer transition (new state or new episode)
    STALE = "stale"  # not newer than what is applied: a replay or an old record
    IGNORED = "ignored"  # pending / inactive: nothing to notify
    ACKED = "acked"
    ACK_STALE = "ack_stale"  # another episode, already acknowledged, or alert unknown


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance as notifications see it (the latest firing/resolved transition)."""

    fingerprint: str
    rule: str
    severity: str
    labels: dict[str, str]
    state: str  # firing | resolved
    episode: int  # ms of the episode start (the incident id's suffix)
    transition_id: str
    incident_id: str
    starts_at: float | None = None
    ends_at: float | None = None
    value: float | None = None
    threshold: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    acknowledged: bool = False
    ack_by: str | None = None
    silenced_by: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``fingerprint:state:episode``: what a message said about this alert."""
        return f"{self.fingerprint}:{self.state}:{self.episode}"

    @property
    def order(self) -> tuple[int, int]:
        """Position in the fingerprint's history: later transitions compare greater."""
        return (self.episode, RANK[self.state])

    @property
    def firing(self) -> bool:
        """True while the alert fires."""
        return self.state == FIRING

    @property
    def match_labels(self) -> dict[str, str]:
        """Labels for routes and inhibition: the alert's labels plus ``rule`` and ``severity``."""
        return {**self.labels, "rule": self.rule, "severity": self.severity}

    def to_payload(self) -> dict[str, Any]:
        """The alert as the outbox payload lists it (see docs/NOTIFY-CONTRACT.md)."""
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "severity": self.severity,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": self.value,
            "threshold": self.threshold,
            "state": self.state,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "incident_id": self.incident_id,
            "acknowledged": self.acknowledged,
        }

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible form (stored in Postgres)."""
        out = self.to_payload()
        out.update(
            episode=self.episode,
            transition_id=self.transition_id,
            ack_by=self.ack_by,
            silenced_by=list(self.silenced_by),
        )
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Alert:
        """Rebuild from :meth:`to_state` output."""
        return cls(
            fingerprint=str(state["fingerprint"]),
            rule=str(state["rule"]),
            severity=str(state["severity"]),
            labels={str(k): str(v) for k, v in (state.get("labels") or {}).items()},
            state=str(state["state"]),
            episode=int(state["episode"]),
            transition_id=str(state["transition_id"]),
            incident_id=str(state["incident_id"]),
            starts_at=_num(state.get("starts_at")),
            ends_at=_num(state.get("ends_at")),
            value=_num(state.get("value")),
            threshold=_num(state.get("threshold")),
            annotations={str(k): str(v) for k, v in (state.get("annotations") or {}).items()},
            acknowledged=bool(state.get("acknowledged")),
            ack_by=state.get("ack_by"),
            silenced_by=tuple(str(s) for s in state.get("silenced_by") or ()),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A transition record: ``alert`` carries the new state (pending/inactive included)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class Ack:
    """An ack record: the incident was acknowledged by ``by`` at wall time ``at``."""

    fingerprint: str
    incident_id: str
    by: str
    at: float


Update = Change | Ack


def _num(raw: Any) -> float | None:
    return None if raw is None else float(raw)


def episode_of(incident_id: str) -> int:
    """The episode (ms) at the end of an incident id ``fingerprint:episode_ms``."""
    return int(incident_id.rsplit(":", 1)[1])


def decode(record: Mapping[str, Any]) -> Update:
    """The update a ``lookout.alerts`` record carries; raises ValueError/KeyError if malformed."""
    if record.get("type") == "ack":
        return Ack(
            fingerprint=str(record["fingerprint"]),
            incident_id=str(record["incident_id"]),
            by=str(record.get("by") or ""),
            at=float(record["at"]),
        )
    state = str(record["to_state"])
    if state not in RANK:
        raise ValueError(f"unknown to_state {state!r}")
    incident = str(record["incident_id"])
    event_time = float(record["event_time"])
    fired_at = _num(record.get("fired_at"))
    return Change(
        Alert(
            fingerprint=str(record["fingerprint"]),
            rule=str(record["rule"]),
            severity=str(record.get("severity") or "warning"),
            labels={str(k): str(v) for k, v in (record.get("labels") or {}).items()},
            state=state,
            episode=episode_of(incident),
            transition_id=str(record["id"]),
            incident_id=incident,
            starts_at=fired_at if fired_at is not None else event_time,
            ends_at=event_time if state == RESOLVED else None,
            value=_num(record.get("value")),
            threshold=_num(record.get("threshold")),
            annotations={str(k): str(v) for k, v in (record.get("annotations") or {}).items()},
            silenced_by=tuple(str(s) for s in record.get("silenced_by") or ()),
        )
    )


def apply(current: Alert | None, change: Change) -> tuple[Alert | None, Applied]:
    """The alert after ``change``: newer firing/resolved transitions win, the rest is ignored.

    An ack of the episode survives its resolution (the resolved message shows it).
    """
    new = change.alert
    if new.state not in (FIRING, RESOLVED):
        return current, Applied.IGNORED
    if current is None:
        return new, Applied.NEW
    if new.order <= current.order:
        return current, Applied.STALE
    if new.episode == current.episode and current.acknowledged:
        new = replace(new, acknowledged=True, ack_by=current.ack_by)
    return new, Applied.CHANGED


def apply_ack(current: Alert | None, ack: Ack) -> tuple[Alert | None, Applied]:
    """The alert after an ack: only a firing alert of the acked episode is marked."""
    if (
        current is None
        or current.incident_id != ack.incident_id
        or current.acknowledged
        or not current.firing
    ):
        return current, Applied.ACK_STALE
    return replace(current, acknowledged=True, ack_by=ack.by), Applied.ACKED
