"""Acknowledgements and notification suppression of alert instances (pure).

``acknowledged`` and ``silenced_by`` are flags, not states: they only hold notifications back
(:func:`suppressed_reason`); the state machine (:mod:`alerting.state`) moves as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum

from alerting.silences import Silence, silencing
from alerting.state import AlertState
from alerting.transitions import Status, Transition


class Suppression(StrEnum):
    """Why a notification about an alert is held back (``none``: send it)."""

    NONE = "none"
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    ACKNOWLEDGED = "acknowledged"


class AckResult(StrEnum):
    """Outcome of :func:`acknowledge`."""

    ACKNOWLEDGED = "acknowledged"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    NOT_FIRING = "not_firing"


def acknowledge(
    state: AlertState, by: str, at: float, comment: str = ""
) -> tuple[AlertState, AckResult]:
    """Acknowledge a firing instance (``at``: wall time); anything else is refused."""
    if state.status is not Status.FIRING:
        return state, AckResult.NOT_FIRING
    if state.acknowledged:
        return state, AckResult.ALREADY_ACKNOWLEDGED
    acked = replace(state, acknowledged=True, ack_by=by, ack_at=at, ack_comment=comment)
    return acked, AckResult.ACKNOWLEDGED


def refresh_silences(state: AlertState, silences: Sequence[Silence], wall_now: float) -> AlertState:
    """The state with ``silenced_by`` recomputed at ``wall_now`` (silence start, expiry, edit)."""
    ids = silencing(state.labels, silences, wall_now)
    return state if ids == state.silenced_by else replace(state, silenced_by=ids)


def suppressed_reason(
    alert: AlertState | Transition,
    *,
    silences: Sequence[Silence] | None = None,
    wall_now: float | None = None,
    inhibited: bool = False,
) -> Suppression:
    """Why a notification about ``alert`` is held back: silenced, inhibited, acknowledged, none.

    With ``silences`` and ``wall_now`` the silences are judged now; otherwise the alert's own
    ``silenced_by`` (as of its last evaluation) counts. ``inhibited`` is the caller's verdict.
    """
    if silences is not None:
        if wall_now is None:
            raise ValueError("suppressed_reason: give wall_now with silences")
        silenced = bool(silencing(alert.labels, silences, wall_now))
    else:
        silenced = bool(alert.silenced_by)
    if silenced:
        return Suppression.SILENCED
    if inhibited:
        return Suppression.INHIBITED
    if isinstance(alert, AlertState) and alert.acknowledged:
        return Suppression.ACKNOWLEDGED
    return Suppression.NONE
