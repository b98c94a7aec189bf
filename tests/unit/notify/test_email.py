"""Email rendering: subject, headers, plain-text and HTML parts."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from notifications.payload import build_test_payload, parse_payload
from notifications.receivers import EmailReceiver, Receiver
from sinks.notify.email import message_id, render, subject
from tests.unit.notify.samples import NOW, alert, payload, resolved


@pytest.fixture
def receiver() -> EmailReceiver:
    to = ["oncall@example.com", "b@example.com"]
    sender = "Lookout <lookout@example.com>"
    data = {"name": "ops-email", "email": {"host": "smtp.example.com", "from": sender, "to": to}}
    email = Receiver.model_validate(data).email
    assert email is not None
    return email


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (payload(alert(), alert("api")), "[FIRING:2] nginx_5xx_error_rate on web-1 (critical)"),
        (payload(alert(severity="warning")), "[FIRING:1] nginx_5xx_error_rate on web-1 (warning)"),
        (payload(resolved(), kind="resolved"),
         "[RESOLVED] nginx_5xx_error_rate on web-1 — lasted 7m 12s"),
        (payload(alert(), resolved("api", severity="critical"), kind="update"),
         "[FIRING:1] nginx_5xx_error_rate on web-1 (critical)"),
        (payload(resolved(), kind="resolved_episode"),
         "[FIRED AND RESOLVED] nginx_5xx_error_rate on web-1 — fired 14:03:10 UTC, resolved "
         "14:10:22 UTC, lasted 7m 12s"),
        (build_test_payload("ops-email", NOW), "[TEST] Lookout test notification for ops-email"),
        (payload(group_labels={}), "[FIRING:1] nginx_5xx_error_rate on web-1 (critical)"),
        (payload(alert(), alert("x", host="web-2"), group_labels={"rule": "r\nX"}),
         "[FIRING:2] r X (critical)"),
    ],
)  # fmt: skip
def test_subject(body: dict, expected: str) -> None:
    assert subject(parse_payload(body), NOW) == expected


def test_headers(receiver: EmailReceiver) -> None:
    mail = render(payload(alert()), receiver, "key-123", NOW)
    assert mail["Subject"] == "[FIRING:1] nginx_5xx_error_rate on web-1 (critical)"
    assert mail["From"] == "Lookout <lookout@example.com>"
    assert mail["To"] == "oncall@example.com, b@example.com"
    assert parsedate_to_datetime(mail["Date"]).timestamp() == NOW
    assert mail["Message-ID"] == message_id("key-123", "lookout@example.com")
    assert mail["Message-ID"].endswith("@example.com>")
    assert mail["X-Lookout-Group"] == "ops-slack|rule=nginx_5xx_error_rate,host=web-1"
    assert mail["X-Lookout-Idempotency-Key"] == "key-123"
    assert mail["X-Lookout-Status"] == "firing"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"


def test_message_id_depends_only_on_the_key(receiver: EmailReceiver) -> None:
    first = render(payload(alert()), receiver, "k1", NOW)
    again = render(payload(alert(value=0.9)), receiver, "k1", NOW + 60)
    other = render(payload(alert()), receiver, "k2", NOW)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]


def test_plain_text_part(receiver: EmailReceiver) -> None:
    body = payload(alert(acknowledged=True, description="5xx on /checkout"), resolved("api"),
                   kind="update", truncated=3)  # fmt: skip
    plain, _ = parts(render(body, receiver, "k", NOW))
    assert plain == (
        "FIRING: 1 alert for nginx_5xx_error_rate on web-1\n"
        "\n"
        "[CRITICAL] shop on web-1: 31.0% of requests fail with 5xx\n"
        "  5xx on /checkout\n"
        "  value:   0.31 (threshold 0.05)\n"
        "  since:   14:03:10 UTC (7m 12s ago)\n"
        "  labels:  host=web-1, service=shop\n"
        "  status:  acknowledged\n"
        "\n"
        "[RESOLVED] api on web-1: 31.0% of requests fail with 5xx\n"
        "  value:   0.31 (threshold 0.05)\n"
        "  lasted:  7m 12s (14:03:10 UTC to 14:10:22 UTC)\n"
        "  labels:  host=web-1, service=api\n"
        "\n"
        "... and 3 more alert(s) (see the live page)\n"
        "\n"
        "Live page: http://localhost:6066/\n"
        "Grafana:   http://localhost:3000/d/lookout-alerts\n"
        "\n"
        "--\n"
        "Sent by Lookout to receiver ops-slack (group ops-slack|rule=nginx_5xx_error_rate,"
        "host=web-1)\n"
    )


def test_html_part_escapes_everything(receiver: EmailReceiver) -> None:
    evil = '<script>alert("x")</script>'
    body = payload(alert(summary=evil, description="a & b", team=evil),
                   live_url='http://x/"onmouseover="y')  # fmt: skip
    plain, html = parts(render(body, receiver, "k", NOW))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "a &amp; b" in html
    assert 'href="http://x/&quot;onmouseover=&quot;y"' in html
    assert evil in plain  # plain text is shown as written
    assert "border-left:6px solid #D0021B" in html


def test_links_must_be_http(receiver: EmailReceiver) -> None:
    plain, html = parts(render(payload(live_url="javascript:x()", grafana_url=None), receiver,
                               "k", NOW))  # fmt: skip
    assert "javascript" not in plain + html


def test_resolved_mail_is_green(receiver: EmailReceiver) -> None:
    mail = render(payload(resolved(), kind="resolved"), receiver, "k", NOW)
    plain, html = parts(mail)
    assert plain.startswith("RESOLVED: nginx_5xx_error_rate on web-1, lasted 7m 12s\n")
    assert "#2EB67D" in html
    assert mail["X-Lookout-Status"] == "resolved"


def test_mail_survives_a_round_trip_through_bytes(receiver: EmailReceiver) -> None:
    mail = render(payload(alert(summary="Ünïcode ✓ summary")), receiver, "k", NOW)
    back = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(back, EmailMessage)
    plain, html = parts(back)
    assert "Ünïcode ✓ summary" in plain and "Ünïcode ✓ summary" in html
    assert back["Subject"] == mail["Subject"]


def test_header_injection_is_impossible(receiver: EmailReceiver) -> None:
    body = payload(group_key="g\r\nBcc: victim@example.com")
    mail = render(body, receiver, "key\r\nX-Evil: 1", NOW)
    headers = mail.as_string().split("\n\n", 1)[0]
    assert "\nBcc:" not in headers and "\nX-Evil:" not in headers
    assert mail["X-Lookout-Group"] == "g Bcc: victim@example.com"


def test_an_unseen_episode_reads_as_news(receiver: EmailReceiver) -> None:
    mail = render(payload(resolved(), kind="resolved_episode"), receiver, "k", NOW)
    plain, _ = parts(mail)
    assert plain.startswith(
        "FIRED AND RESOLVED before any notification: 1 alert for nginx_5xx_error_rate on web-1, "
        "fired 14:03:10 UTC, resolved 14:10:22 UTC, lasted 7m 12s\n\n[RESOLVED] shop on web-1"
    )
    assert mail["X-Lookout-Status"] == "resolved"
