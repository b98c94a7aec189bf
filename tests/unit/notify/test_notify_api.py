"""GET /api/notifications: query parsing and the row shape (the view itself runs in e2e)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from app.api.models import Notification
from app.api.notifications import DEFAULT_LIMIT, QueryError, parse_query, row_out
from sinks.notify.outbox import _row


def test_query_defaults_and_filters() -> None:
    assert parse_query({}) == (None, None, DEFAULT_LIMIT)
    assert parse_query({"status": "sent", "receiver": "ops-slack", "limit": "5"}) == (
        "sent",
        "ops-slack",
        5,
    )
    assert parse_query({"receiver": ""}) == (None, None, DEFAULT_LIMIT)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "done"}, "status must be one of pending, sent, failed, suppressed"),
        ({"status": ""}, "status must be one of pending, sent, failed, suppressed"),
        ({"limit": "0"}, "limit must be an integer from 1 to 500"),
        ({"limit": "501"}, "limit must be an integer from 1 to 500"),
        ({"limit": "ten"}, "limit must be an integer from 1 to 500"),
    ],
)
def test_bad_queries_say_what_is_allowed(query: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(query)


def test_row_shape() -> None:
    at = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    payload = {
        "kind": "firing",
        "status": "firing",
        "group_labels": {"rule": "cpu"},
        "alerts": [{"rule": "cpu"}],
        "truncated": 0,
    }
    row = {
        "id": 7,
        "idempotency_key": "k",
        "group_key": "ops-slack|rule=cpu",
        "transition_id": "fp:firing:1",
        "receiver": "ops-slack",
        "status": "sent",
        "reason": "first notification of the group (1 firing)",
        "attempts": 1,
        "next_attempt_at": None,
        "last_error": None,
        "payload": orjson.dumps(payload).decode(),
        "created_at": at,
        "sent_at": at,
    }
    out = row_out(_row(row))  # the record as sinks/notify/outbox.py reads it from PostgreSQL
    Notification.model_validate(out)  # the document describes what the view returns
    assert out["kind"] == "firing" and out["alert_status"] == "firing"
    assert out["created_at"] == "2025-11-20T12:00:00+00:00" and out["next_attempt_at"] is None
    assert out["group_labels"] == {"rule": "cpu"} and out["alerts"] == [{"rule": "cpu"}]
