"""The vocabulary of notification decisions: actions, message kinds and reasons (pure)."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a flush does: write a message to send, record a held-back one, or nothing."""

    SEND = "send"
    SUPPRESS = "suppress"
    SKIP = "skip"


class Kind(StrEnum):
    """The kind of a message (payload ``kind``)."""

    FIRING = "firing"
    UPDATE = "update"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    RESOLVED_EPISODE = "resolved_episode"  # fired and resolved before the receiver was told


class Reason(StrEnum):
    """Why a stage decided what it did (a small, countable set)."""

    DEFAULT_ROUTE = "default_route"
    MATCHED_ROUTE = "matched_route"
    NOT_DUE = "not_due"
    FIRST = "first"
    NEW_FIRING = "new_firing"
    ALL_RESOLVED = "all_resolved"
    SOME_RESOLVED = "some_resolved"
    REPEAT = "repeat"
    SEND_RESOLVED_FALSE = "send_resolved_false"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    NOTHING_NEW = "nothing_new"
    RESOLVED_EPISODE = "resolved_episode"  # catch_up: notify
    RESOLVED_UNSEEN = "resolved_unseen"  # catch_up: skip


class CatchUp(StrEnum):
    """What a route does with an episode that fired and resolved before its receiver was told
    (a catch-up or a short incident inside one group_wait): ``notify`` it, or ``skip`` it
    (a deliberate historical backfill)."""

    NOTIFY = "notify"
    SKIP = "skip"
