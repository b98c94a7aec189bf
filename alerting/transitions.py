"""The alert transition record: the states of an alert instance, their legal edges, and the
record written to ``lookout.alerts`` once per state change (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """States of an alert instance."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


EDGES = frozenset(
    {
        (Status.INACTIVE, Status.PENDING),
        (Status.INACTIVE, Status.FIRING),
        (Status.PENDING, Status.INACTIVE),
        (Status.PENDING, Status.FIRING),
        (Status.FIRING, Status.RESOLVED),
        (Status.RESOLVED, Status.PENDING),
        (Status.RESOLVED, Status.FIRING),
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, emitted once to ``lookout.alerts`` (``id`` is idempotent).

    ``incident_id`` is shared by the firing and resolved transitions of one episode (open the
    incident on ``to_state == "firing"``, close it on ``"resolved"``). Host-down transitions
    carry ``down_at``, and on resolution ``up_at`` and ``down_for_s`` (a ``downtime_logs`` row).
    """

    id: str
    rule: str
    fingerprint: str
    labels: dict[str, str]
    from_state: Status
    to_state: Status
    event_time: float
    value: float | None
    score: float | None
    threshold: float
    severity: str
    annotations: dict[str, str]
    incident_id: str
    active_at: float | None
    fired_at: float | None
    silenced_by: tuple[str, ...] = ()
    down_at: float | None = None
    up_at: float | None = None
    down_for_s: float | None = None

    def to_record(self) -> dict[str, Any]:
        """The JSON record written to ``lookout.alerts``."""
        return {
            "id": self.id,
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "event_time": self.event_time,
            "value": self.value,
            "score": self.score,
            "threshold": self.threshold,
            "severity": self.severity,
            "annotations": dict(self.annotations),
            "incident_id": self.incident_id,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "silenced_by": list(self.silenced_by),
            "down_at": self.down_at,
            "up_at": self.up_at,
            "down_for_s": self.down_for_s,
        }
