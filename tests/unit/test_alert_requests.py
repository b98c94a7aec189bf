"""Ack and silence bodies of the alerting API (alerting/requests.py)."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.requests import ack_from, silence_from

NOW = 1_800_000_000.0


def test_ack_body() -> None:
    assert ack_from({"by": " ann ", "comment": "on it"}) == ("ann", "on it")
    assert ack_from({"by": "ann", "comment": None}) == ("ann", "")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "'by' is required"),
        ({"by": "  "}, "'by' must not be blank"),
        ({"by": 3}, "'by' must be a string"),
        ({"by": "ann", "comment": ["x"]}, "'comment' must be a string"),
        ({"by": "a" * 201}, "at most 200"),
    ],
)
def test_bad_ack_bodies(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ack_from(doc)


def test_silence_with_a_duration_starts_now() -> None:
    s = silence_from(
        {
            "matchers": {"host": "web-1", "alertname": "=~cpu.*"},
            "duration": 60,
            "created_by": "ann",
        },
        NOW,
    )
    assert (s.starts_at, s.ends_at, s.created_by) == (NOW, NOW + 60, "ann")
    assert s.matches({"host": "web-1", "alertname": "cpu_hot"})
    assert not s.matches({"host": "web-2", "alertname": "cpu_hot"})
    assert len(s.id) == 12


def test_silence_with_an_end_and_an_id() -> None:
    s = silence_from(
        {"matchers": {"host": "=a"}, "ends_at": NOW + 5, "created_by": "ann", "id": "s-1"}, NOW
    )
    assert (s.id, s.ends_at) == ("s-1", NOW + 5)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"duration": 60, "created_by": "a"}, "'matchers' must be a non-empty object"),
        ({"matchers": {}, "duration": 60, "created_by": "a"}, "non-empty"),
        ({"matchers": {"h": 1}, "duration": 60, "created_by": "a"}, "to a string"),
        ({"matchers": {"h": "x"}, "created_by": "a"}, "give 'ends_at'"),
        ({"matchers": {"h": "x"}, "duration": "60", "created_by": "a"}, "number of seconds"),
        ({"matchers": {"h": "x"}, "duration": True, "created_by": "a"}, "number of seconds"),
        ({"matchers": {"h": "x"}, "duration": 0, "created_by": "a"}, "more than 0"),
        (
            {"matchers": {"h": "x"}, "duration": 1e308, "starts_at": 1e308, "created_by": "a"},
            "large",
        ),
        ({"matchers": {"h": "x"}, "ends_at": NOW - 1, "created_by": "a"}, "after starts_at"),
        ({"matchers": {"h": "x"}, "duration": 60}, "'created_by' is required"),
        ({"matchers": {"h": "=~("}, "duration": 60, "created_by": "a"}, "h"),
        ({"matchers": {"h": "x"}, "duration": 60, "created_by": "a", "id": "a/b"}, "'id' must"),
    ],
)
def test_bad_silence_bodies(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        silence_from(doc, NOW)
