"""Slack rendering: the webhook JSON for firing, resolved, mixed, test and oversized messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifications.payload import COLOURS, PayloadError
from sinks.notify.slack import MAX_BLOCKS, MAX_HEADER, MAX_TEXT, render
from tests.unit.notify.samples import NOW, START, alert, payload, resolved


def blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["attachments"][0]["blocks"]


def texts(body: dict[str, Any]) -> list[str]:
    """Every text a reader sees, in order."""
    out = []
    for block in blocks(body):
        if block["type"] in ("header", "section"):
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.extend(e["text"] for e in block["elements"])
        elif block["type"] == "actions":
            out.extend(f"[{e['text']['text']}]({e['url']})" for e in block["elements"])
    return out


def test_firing_message_reads_as_expected() -> None:
    body = render(payload(alert(acknowledged=True), alert("api", severity="warning")), NOW)
    assert texts(body) == [
        "🔥 FIRING [2] nginx_5xx_error_rate — web-1",
        "critical · 2 firing · rule=nginx_5xx_error_rate, host=web-1",
        "🔴 *shop on web-1: 31.0% of requests fail with 5xx*\n"
        "*Value* `0.31` vs threshold `0.05` · *Since* 14:03:10 UTC (7m 12s ago) · ✔ acknowledged",
        "`host=web-1` `service=shop`",
        "🟠 *api on web-1: 31.0% of requests fail with 5xx*\n"
        "*Value* `0.31` vs threshold `0.05` · *Since* 14:03:10 UTC (7m 12s ago)",
        "`host=web-1` `service=api`",
        "[Live page](http://localhost:6066/)",
        "[Grafana dashboard](http://localhost:3000/d/lookout-alerts)",
    ]
    assert body["attachments"][0]["color"] == COLOURS["critical"]
    assert body["text"].startswith("🔥 FIRING [2] nginx_5xx_error_rate — web-1\n• [critical] shop")
    assert "channel" not in body
    json.dumps(body)  # plain JSON


def test_resolved_message_is_green_and_says_how_long() -> None:
    body = render(payload(resolved(), kind="resolved"), NOW)
    assert texts(body)[:3] == [
        "✅ RESOLVED nginx_5xx_error_rate — web-1 (lasted 7m 12s)",
        "1 resolved · rule=nginx_5xx_error_rate, host=web-1",
        "✅ *shop on web-1: 31.0% of requests fail with 5xx*\n"
        "*Value* `0.31` vs threshold `0.05` · *Resolved* after 7m 12s · started 14:03:10 UTC",
    ]
    assert body["attachments"][0]["color"] == COLOURS["resolved"]


def test_an_unseen_episode_says_when_it_fired_resolved_and_how_long() -> None:
    body = render(payload(resolved(), kind="resolved_episode"), NOW)
    assert texts(body)[:2] == [
        "⚠️ FIRED AND RESOLVED nginx_5xx_error_rate — web-1: fired 14:03:10 UTC, resolved "
        "14:10:22 UTC, lasted 7m 12s",
        "1 resolved · fired and resolved before any notification · "
        "rule=nginx_5xx_error_rate, host=web-1",
    ]
    assert body["attachments"][0]["color"] == COLOURS["critical"]  # news, not an all-clear


def test_several_unseen_episodes_are_one_message_listing_them() -> None:
    early = alert("api", state="resolved", starts_at=NOW - 3600, ends_at=NOW - 3000)
    body = render(payload(early, resolved(), kind="resolved_episode"), NOW)
    assert texts(body)[0] == (
        "⚠️ FIRED AND RESOLVED [2] nginx_5xx_error_rate — web-1: fired 13:10:22 UTC, "
        "resolved 14:10:22 UTC, lasted 1h"
    )
    assert body["text"].count("• [resolved]") == 2


@pytest.mark.parametrize(
    ("severity", "colour"),
    [("critical", "#D0021B"), ("warning", "#F5A623"), ("info", "#1F78D1"), ("weird", "#9B9B9B")],
)
def test_colour_follows_the_top_firing_severity(severity: str, colour: str) -> None:
    body = render(payload(alert(severity=severity), resolved("api", severity="critical")), NOW)
    assert body["attachments"][0]["color"] == colour


def test_update_with_a_resolved_alert_stays_firing() -> None:
    body = render(payload(alert(), resolved("api"), kind="update"), NOW)
    assert texts(body)[0] == "🔥 FIRING [1] nginx_5xx_error_rate — web-1"
    assert texts(body)[1] == "critical · 1 firing · 1 resolved · updated · " + (
        "rule=nginx_5xx_error_rate, host=web-1"
    )


def test_repeat_says_it_is_a_reminder() -> None:
    assert "🔁 reminder: still firing" in texts(render(payload(kind="repeat"), NOW))[1]


def test_test_message() -> None:
    from notifications.payload import build_test_payload

    body = render(build_test_payload("ops-slack", NOW, live_url="http://x/"), NOW, channel="#ops")
    assert texts(body)[0] == "🧪 TEST Lookout → ops-slack"
    assert body["channel"] == "#ops"
    assert body["attachments"][0]["color"] == COLOURS["info"]
    assert [e["url"] for e in blocks(body)[-1]["elements"]] == ["http://x/"]


def test_since_shows_the_date_when_not_today() -> None:
    body = render(payload(alert(starts_at=START - 86400 * 2)), NOW)
    assert "*Since* 2025-11-20 14:03:10 UTC (2d 7m ago)" in texts(body)[2]


def test_missing_values_are_left_out() -> None:
    body = render(payload(alert(value=None, threshold=None, starts_at=None)), NOW)
    assert texts(body)[2] == "🔴 *shop on web-1: 31.0% of requests fail with 5xx*"


def test_user_text_is_escaped_for_slack() -> None:
    body = render(payload(alert(summary="<!channel> a & b", description="<http://evil|x>")), NOW)
    section = texts(body)[2]
    assert "&lt;!channel&gt; a &amp; b" in section
    assert "&lt;http://evil|x&gt;" in section
    assert "<!channel>" not in json.dumps(body)


def test_links_must_be_http() -> None:
    body = render(payload(live_url="javascript:alert(1)", grafana_url=None), NOW)
    assert all(b["type"] != "actions" for b in blocks(body))


def test_many_alerts_stay_within_slack_limits() -> None:
    alerts = [alert(f"svc{i:02d}", description="d" * 5000) for i in range(40)]
    body = render(payload(*alerts, truncated=7), NOW)
    assert len(blocks(body)) <= MAX_BLOCKS
    assert all(len(t) <= MAX_TEXT for t in texts(body))
    assert len(body["text"]) <= MAX_TEXT
    shown = sum(1 for b in blocks(body) if b["type"] == "section")
    assert f"… and {40 - shown + 7} more alert(s)" in texts(body)[-3]
    assert shown >= 20


def test_long_header_is_clipped() -> None:
    long = "x" * 400
    body = render(payload(group_labels={"rule": long, "host": "web-1"}), NOW)
    header = blocks(body)[0]["text"]["text"]
    assert len(header) == MAX_HEADER and header.endswith("…")


def test_group_without_rule_label_uses_the_alerts_rule() -> None:
    body = render(payload(group_labels={"host": "web-1"}), NOW)
    assert texts(body)[0] == "🔥 FIRING [1] nginx_5xx_error_rate — web-1"


@pytest.mark.parametrize(
    "broken",
    [
        {"kind": "nope", "alerts": [alert()]},
        {"kind": "firing", "alerts": []},
        {"kind": "firing", "alerts": [{"state": "weird"}]},
        {"kind": "firing", "alerts": [{**alert(), "value": "high"}]},
        ["not", "an", "object"],
    ],
)
def test_broken_payload_is_a_payload_error(broken: Any) -> None:
    with pytest.raises(PayloadError):
        render(broken, NOW)
