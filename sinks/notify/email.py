"""Email: a payload rendered as a multipart message (plain text + HTML), and the SMTP send.

:func:`render` is pure. Subjects read well in an inbox::

    [FIRING:2] nginx_5xx_error_rate on web-1 (critical)
    [RESOLVED] nginx_5xx_error_rate on web-1 — lasted 7m 12s
    [FIRED AND RESOLVED] nginx_5xx_error_rate on web-1 — fired 12:07:00 UTC, resolved ...
    [TEST] Lookout test notification for ops-email

Headers: From, To, Date, ``Message-ID`` derived from the outbox idempotency key (a duplicate
delivery carries the same id, so mail systems and people can spot it), ``X-Lookout-Group``,
``X-Lookout-Idempotency-Key``, ``X-Lookout-Status`` (for mail filters) and
``Auto-Submitted: auto-generated`` (no vacation replies). Every text from the payload is
HTML-escaped in the HTML part; links must be http(s).

:func:`send` talks SMTP with aiosmtplib: STARTTLS (``security: starttls``), implicit TLS
(``tls``) or plain (``none``), optional login, one timeout; it returns a result, never raises.
"""

from __future__ import annotations

import asyncio
import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from typing import Any

from notifications.delivery import Result, SmtpResult, TransportError, describe_error
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
from notifications.receivers import EmailReceiver

MAX_SUBJECT = 200


def message_id(key: str, sender: str) -> str:
    """A Message-ID that only depends on the idempotency key (and the sender's domain)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    domain = sender.rpartition("@")[2].strip(" >") or "lookout.invalid"
    return f"<lookout.{digest}@{domain}>"


def render(payload: Any, receiver: EmailReceiver, key: str, now: float) -> EmailMessage:
    """The email for ``payload`` at wall time ``now`` (unix seconds)."""
    message = parse_payload(payload)
    mail = EmailMessage()
    mail["Subject"] = subject(message, now)
    mail["From"] = receiver.from_
    mail["To"] = ", ".join(receiver.to)
    mail["Date"] = formatdate(now, usegmt=True)
    mail["Message-ID"] = message_id(key, receiver.from_)
    mail["X-Lookout-Group"] = _one_line(message.group_key) or "-"
    mail["X-Lookout-Idempotency-Key"] = _one_line(key)
    mail["X-Lookout-Status"] = "test" if message.kind == "test" else message.status
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(plain_text(message, now))
    mail.add_alternative(html_text(message, now), subtype="html")
    return mail


def subject(message: Message, now: float) -> str:
    """The inbox line: status, count, rule, where, severity or duration."""
    rule, where = subject_of(message)
    about = f"{rule} on {where}" if where else rule
    if message.kind == "test":
        text = f"[TEST] Lookout test notification for {message.receiver or where}"
    elif message.kind == EPISODE:
        text = f"[FIRED AND RESOLVED] {about} — {episode_span(message, now)}"
    elif message.status == "resolved":
        took = lasted(message, now)
        text = f"[RESOLVED] {about}" + (f" — lasted {format_duration(took)}" if took else "")
    else:
        firing = message.firing
        text = f"[FIRING:{len(firing)}] {about} ({top_severity(firing)})"
    return _one_line(text)[:MAX_SUBJECT]


def _headline(message: Message, now: float) -> str:
    rule, where = subject_of(message)
    about = f"{rule} on {where}" if where else rule
    if message.kind == "test":
        return f"TEST: Lookout test notification for {message.receiver or where}"
    if message.kind == EPISODE:
        count = len(message.alerts)
        alerts = f"{count} alert{'s' if count != 1 else ''}"
        return (
            f"FIRED AND RESOLVED before any notification: {alerts} for {about}, "
            f"{episode_span(message, now)}"
        )
    if message.status == "resolved":
        took = lasted(message, now)
        return f"RESOLVED: {about}" + (f", lasted {format_duration(took)}" if took else "")
    count = len(message.firing)
    text = f"FIRING: {count} alert{'s' if count != 1 else ''} for {about}"
    if message.kind == "repeat":
        text += " (reminder: still firing)"
    return text


def _facts(alert: Alert, now: float) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if alert.value is not None:
        value = format_number(alert.value)
        if alert.threshold is not None:
            value += f" (threshold {format_number(alert.threshold)})"
        facts.append(("value", value))
    if alert.starts_at is not None:
        if alert.firing:
            facts.append(("since", format_since(alert.starts_at, now)))
        else:
            end = alert.ends_at if alert.ends_at is not None else now
            took = format_duration(end - alert.starts_at)
            span = f"{format_time(alert.starts_at, now)} to {format_time(end, now)}"
            facts.append(("lasted", f"{took} ({span})"))
    if alert.labels:
        facts.append(("labels", ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))))
    if alert.firing and alert.acknowledged:
        facts.append(("status", "acknowledged"))
    return facts


def _mark(alert: Alert) -> str:
    return f"[{alert.severity.upper()}]" if alert.firing else "[RESOLVED]"


def _links(message: Message) -> list[tuple[str, str]]:
    links = [("Live page", message.live_url), ("Grafana", message.grafana_url)]
    return [(name, url) for name, url in links if url]


def plain_text(message: Message, now: float) -> str:
    """The text/plain part."""
    lines = [_headline(message, now), ""]
    for alert in message.alerts:
        lines.append(f"{_mark(alert)} {alert.summary}")
        description = alert.annotations.get("description", "").strip()
        if description:
            lines.append(f"  {description}")
        lines.extend(f"  {name + ':':<8} {value}" for name, value in _facts(alert, now))
        lines.append("")
    if message.truncated:
        lines.extend([f"... and {message.truncated} more alert(s) (see the live page)", ""])
    lines.extend(f"{name + ':':<10} {url}" for name, url in _links(message))
    lines.extend(["", "--", _footer(message)])
    return "\n".join(lines) + "\n"


def html_text(message: Message, now: float) -> str:
    """The text/html part (every payload text escaped)."""
    e = escape
    bar = colour(message)
    parts = [
        '<!DOCTYPE html><html><body style="margin:0;padding:16px;'
        'font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222">',
        f'<div style="border-left:6px solid {bar};padding:4px 12px">',
        f'<h2 style="margin:0 0 12px;font-size:18px">{e(_headline(message, now))}</h2>',
    ]
    for alert in message.alerts:
        parts.append('<div style="margin:0 0 14px">')
        parts.append(f"<div><b>{e(_mark(alert))} {e(alert.summary)}</b></div>")
        description = alert.annotations.get("description", "").strip()
        if description:
            parts.append(f'<div style="color:#444">{e(description)}</div>')
        rows = "".join(
            f'<tr><td style="color:#666;padding-right:12px">{e(name)}</td><td>{e(value)}</td></tr>'
            for name, value in _facts(alert, now)
        )
        if rows:
            parts.append(f'<table style="border-collapse:collapse">{rows}</table>')
        parts.append("</div>")
    if message.truncated:
        parts.append(f"<p>… and {message.truncated} more alert(s) (see the live page)</p>")
    links = " · ".join(
        f'<a href="{e(url, quote=True)}">{e(name)}</a>' for name, url in _links(message)
    )
    if links:
        parts.append(f"<p>{links}</p>")
    parts.append(f'<p style="color:#888;font-size:12px">{e(_footer(message))}</p>')
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"


def _footer(message: Message) -> str:
    return f"Sent by Lookout to receiver {message.receiver or '?'} (group {message.group_key})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ I/O


async def send(receiver: EmailReceiver, mail: EmailMessage) -> Result:
    """Deliver ``mail`` to the receiver's SMTP server; the server's reply as a result."""
    import aiosmtplib

    password = receiver.password.get_secret_value() if receiver.password else None
    try:
        # aiosmtplib's timeout is per step; the receiver's timeout bounds the whole exchange
        async with asyncio.timeout(receiver.timeout):
            _refused, reply = await aiosmtplib.send(
                mail,
                hostname=receiver.host,
                port=receiver.effective_port,
                username=receiver.username,
                password=password,
                use_tls=receiver.security == "tls",
                start_tls=receiver.security == "starttls",
                timeout=receiver.timeout,
                cert_bundle=str(receiver.ca_file) if receiver.ca_file else None,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients] or [550]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return SmtpResult(min(codes), f"every recipient refused ({detail})")
    except aiosmtplib.SMTPResponseException as exc:
        return SmtpResult(exc.code, exc.message)
    except (TimeoutError, aiosmtplib.SMTPTimeoutError):
        return TransportError("timeout", f"no answer within {receiver.timeout:g} s")
    except OSError as exc:  # refused, reset, TLS handshake, disconnected (aiosmtplib's too)
        secrets = (password,) if password else ()
        return TransportError("connection", describe_error(exc, secrets=secrets))
    except aiosmtplib.SMTPException as exc:  # e.g. no STARTTLS or AUTH: a config mismatch
        return TransportError("invalid", f"{exc} (check security: starttls | tls | none)")
    return SmtpResult(250, reply)
