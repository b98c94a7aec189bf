"""Payload reading and the wording shared by Slack and email."""

from __future__ import annotations

import pytest

from notifications.payload import (
    PayloadError,
    build_test_payload,
    format_duration,
    format_number,
    format_since,
    lasted,
    parse_payload,
    subject_of,
    top_severity,
)
from tests.unit.notify.samples import NOW, START, alert, payload, resolved


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0s"), (45, "45s"), (60, "1m"), (432, "7m 12s"), (3600, "1h"),
     (7500, "2h 5m"), (7505, "2h 5m"), (86400 * 3 + 3600 * 4 + 5, "3d 4h"), (-5, "0s")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_since() -> None:
    assert format_since(START, NOW) == "14:03:10 UTC (7m 12s ago)"
    assert format_since(START - 86400, NOW) == "2025-11-21 14:03:10 UTC (1d 7m ago)"
    assert format_since(NOW + 30, NOW) == "14:10:52 UTC (in 30s)"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.31, "0.31"), (0.072, "0.072"), (95.123456, "95.12"), (1234.0, "1234"), (2e6, "2e+06"),
     (float("nan"), "nan"), (-3.0, "-3")],
)  # fmt: skip
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_parse_payload_reads_the_contract_shape() -> None:
    message = parse_payload(payload(alert(acknowledged=True), resolved("api")))
    assert message.kind == "firing" and message.status == "firing"
    assert [a.labels["service"] for a in message.firing] == ["shop"]
    assert [a.labels["service"] for a in message.resolved] == ["api"]
    assert message.alerts[0].acknowledged and message.alerts[0].value == 0.31
    assert message.live_url == "http://localhost:6066/"


def test_labels_are_text_and_nulls_are_allowed() -> None:
    body = payload(alert(port=8080), group_labels={"rule": "r", "n": None})  # type: ignore[arg-type]
    message = parse_payload(body)
    assert message.alerts[0].labels["port"] == "8080"
    assert message.group_labels == {"rule": "r", "n": ""}


def test_status_defaults_from_the_alerts() -> None:
    body = payload(resolved(), kind="resolved")
    del body["status"]
    assert parse_payload(body).status == "resolved"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "other"}, "kind 'other'"),
        ({"status": "pending"}, "status 'pending'"),
        ({"alerts": "x"}, "alerts must be a non-empty list"),
        ({"alerts": [1]}, "alerts[0]: expected an object"),
        ({"alerts": [{**alert(), "starts_at": "noon"}]}, "alerts[0].starts_at: expected a number"),
        ({"alerts": [{**alert(), "labels": ["a"]}]}, "alerts[0].labels: expected an object"),
        ({"truncated": -1}, "truncated: expected a count"),
    ],
)
def test_bad_payloads_say_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_payload({**payload(), **change})


def test_top_severity_and_subject() -> None:
    message = parse_payload(payload(alert(severity="warning"), alert("api", severity="critical")))
    assert top_severity(message.alerts) == "critical"
    assert subject_of(message) == ("nginx_5xx_error_rate", "web-1")
    mixed = parse_payload(payload(alert(), {**alert("x"), "rule": "other"}, group_labels={}))
    assert subject_of(mixed) == ("2 rules", "web-1")


def test_lasted_spans_first_start_to_last_end() -> None:
    message = parse_payload(payload(resolved(), resolved("api", starts_at=START - 60)))
    assert lasted(message, NOW) == 432 + 60


def test_test_payload_follows_the_contract() -> None:
    message = parse_payload(build_test_payload("ops", NOW, live_url="http://l/"))
    assert (message.kind, message.status, message.receiver) == ("test", "firing", "ops")
    assert message.alerts[0].severity == "info" and message.live_url == "http://l/"
