"""Slack: a payload rendered as an incoming-webhook message (Block Kit), and the POST that sends it.

:func:`render` is pure. The message is one attachment (its colour bar shows the severity, or
green when resolved) holding the blocks::

    🔥 FIRING [2] nginx_5xx_error_rate — web-1                      (header)
    ⚠️ FIRED AND RESOLVED nginx_5xx_error_rate — web-1: fired 12:07:00 UTC, resolved
       12:10:00 UTC, lasted 3m                         (an episode nobody was told about)
    critical · 2 firing · rule=nginx_5xx_error_rate, host=web-1     (context)
    🔴 *shop on web-1: 31.0% of requests fail with 5xx*              (section, per alert)
    *Value* `0.31` vs threshold `0.05` · *Since* 14:03:10 UTC (5m ago) · ✔ acknowledged
    `host=web-1` `service=shop`                                     (context, per alert)
    [Live page] [Grafana dashboard]                                 (actions)

plus a plain ``text`` fallback for notifications and old clients. Slack's limits are kept: at
most 50 blocks (alerts that do not fit are counted in a "and N more" line), 150 characters per
header, 3000 per text.
"""

from __future__ import annotations

from typing import Any

from notifications.delivery import HttpResult, Result, TransportError, describe_error
from notifications.payload import (
    EPISODE,
    Alert,
    Message,
    colour,
    episode_span,
    format_duration,
    format_number,
    format_since,
    format_time,
    lasted,
    parse_payload,
    subject_of,
    top_severity,
)
from notifications.receivers import SlackReceiver

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_CONTEXT = 2000
MAX_BUTTON = 75
IDEMPOTENCY_HEADER = "X-Lookout-Idempotency-Key"

SEVERITY_EMOJI = {"critical": "🔴", "error": "🔴", "warning": "🟠", "info": "🔵"}


def render(payload: Any, now: float, *, channel: str | None = None) -> dict[str, Any]:
    """The webhook body for ``payload`` at wall time ``now`` (unix seconds)."""
    message = parse_payload(payload)
    title = headline(message, now)
    blocks: list[dict[str, Any]] = [_header(title), _context(_overview(message))]
    links = _buttons(message)
    fixed = len(blocks) + (1 if links else 0) + 1  # + the "and N more" line, if needed
    room = (MAX_BLOCKS - fixed) // 2
    shown = message.alerts[:room]
    hidden = message.truncated + len(message.alerts) - len(shown)
    for alert in shown:
        blocks.append(_section(_alert_text(alert, now)))
        if alert.labels:
            blocks.append(_context(" ".join(f"`{_esc(k)}={_esc(v)}`" for k, v in _labels(alert))))
    if hidden:
        blocks.append(_context(f"… and {hidden} more alert(s) not shown here (see the live page)"))
    if links:
        blocks.append({"type": "actions", "elements": links})
    body: dict[str, Any] = {
        "text": _clip(_fallback(message, title), MAX_TEXT),
        "attachments": [
            {"color": colour(message), "fallback": _clip(title, MAX_HEADER), "blocks": blocks}
        ],
    }
    if channel:
        body["channel"] = channel
    return body


def headline(message: Message, now: float) -> str:
    """``🔥 FIRING [2] rule — where`` / ``✅ RESOLVED rule — where (lasted 7m 12s)`` /
    ``⚠️ FIRED AND RESOLVED rule — where: fired ..., resolved ..., lasted 3m``."""
    rule, where = subject_of(message)
    about = f"{rule} — {where}" if where else rule
    if message.kind == "test":
        return f"🧪 TEST Lookout → {message.receiver or where}"
    if message.kind == EPISODE:
        count = f" [{len(message.alerts)}]" if len(message.alerts) > 1 else ""
        return f"⚠️ FIRED AND RESOLVED{count} {about}: {episode_span(message, now)}"
    if message.status == "resolved":
        took = lasted(message, now)
        return f"✅ RESOLVED {about}" + (f" (lasted {format_duration(took)})" if took else "")
    return f"🔥 FIRING [{len(message.firing)}] {about}"


def _overview(message: Message) -> str:
    parts = []
    if message.firing:
        parts.append(top_severity(message.firing))
        parts.append(f"{len(message.firing)} firing")
    if message.resolved:
        parts.append(f"{len(message.resolved)} resolved")
    if message.kind == "repeat":
        parts.append("🔁 reminder: still firing")
    elif message.kind == "update":
        parts.append("updated")
    elif message.kind == EPISODE:
        parts.append("fired and resolved before any notification")
    if message.group_labels:
        parts.append(", ".join(f"{k}={v}" for k, v in message.group_labels.items()))
    return _esc(" · ".join(parts))


def _alert_text(alert: Alert, now: float) -> str:
    summary = _esc(alert.summary)
    lines = []
    if alert.firing:
        lines.append(f"{SEVERITY_EMOJI.get(alert.severity, '⚪')} *{summary}*")
    else:
        lines.append(f"✅ *{summary}*")
    description = alert.annotations.get("description", "").strip()
    if description:
        lines.append(_esc(_clip(description, 1000)))
    facts = []
    if alert.value is not None:
        fact = f"*Value* `{format_number(alert.value)}`"
        if alert.threshold is not None:
            fact += f" vs threshold `{format_number(alert.threshold)}`"
        facts.append(fact)
    if alert.firing and alert.starts_at is not None:
        facts.append(f"*Since* {format_since(alert.starts_at, now)}")
    if not alert.firing:
        if alert.starts_at is not None:
            end = alert.ends_at if alert.ends_at is not None else now
            facts.append(f"*Resolved* after {format_duration(end - alert.starts_at)}")
            facts.append(f"started {format_time(alert.starts_at, now)}")
        else:
            facts.append("*Resolved*")
    if alert.acknowledged and alert.firing:
        facts.append("✔ acknowledged")
    if facts:
        lines.append(" · ".join(facts))
    return _clip("\n".join(lines), MAX_TEXT)


def _labels(alert: Alert) -> list[tuple[str, str]]:
    return sorted(alert.labels.items())[:10]


def _buttons(message: Message) -> list[dict[str, Any]]:
    links = [("Live page", message.live_url), ("Grafana dashboard", message.grafana_url)]
    return [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _clip(text, MAX_BUTTON)},
            "url": url,
        }
        for text, url in links
        if url and len(url) <= MAX_TEXT
    ]


def _fallback(message: Message, title: str) -> str:
    lines = [title]
    for alert in message.alerts[:5]:
        mark = "resolved" if not alert.firing else alert.severity
        lines.append(f"• [{mark}] {alert.summary}")
    more = len(message.alerts) - 5 + message.truncated
    if more > 0:
        lines.append(f"… and {more} more")
    return _esc("\n".join(lines))


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, MAX_HEADER), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, MAX_CONTEXT)}]}


def _esc(text: str) -> str:
    """Slack's three control characters; everything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ I/O


async def post(session: Any, receiver: SlackReceiver, body: dict[str, Any], key: str) -> Result:
    """POST ``body`` to the webhook with one shared aiohttp session; never raises for I/O."""
    import aiohttp

    url = receiver.webhook_url.get_secret_value()
    try:
        async with session.post(
            url,
            json=body,
            headers={IDEMPOTENCY_HEADER: key},
            timeout=aiohttp.ClientTimeout(total=receiver.timeout),
            allow_redirects=False,
        ) as response:
            text = await response.text(errors="replace")
            return HttpResult(response.status, response.headers.get("Retry-After"), text[:1000])
    except TimeoutError:
        return TransportError("timeout", f"no answer within {receiver.timeout:g} s")
    except aiohttp.InvalidURL:
        return TransportError("invalid", "the webhook URL is not valid")
    except (aiohttp.ClientError, OSError) as exc:
        return TransportError("connection", describe_error(exc, secrets=(url,)))
