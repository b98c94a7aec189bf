"""The outbox payload (docs/NOTIFY-CONTRACT.md) read into typed objects, and shared wording.

Pure: the Slack and email renderers both read a payload through :func:`parse_payload` and word
titles, durations and times with the helpers here, so the two channels say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}
COLOURS = {
    "critical": "#D0021B",
    "error": "#D0021B",
    "warning": "#F5A623",
    "info": "#1F78D1",
    "resolved": "#2EB67D",
    "unknown": "#9B9B9B",
}
KINDS = ("firing", "update", "repeat", "resolved", "resolved_episode", "test")
EPISODE = "resolved_episode"  # fired and resolved before the receiver was told (a catch-up)


class PayloadError(ValueError):
    """A payload does not follow the contract; retrying cannot help."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a message."""

    rule: str
    severity: str
    state: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    threshold: float | None = None
    starts_at: float | None = None
    ends_at: float | None = None
    fingerprint: str = ""
    incident_id: str = ""
    acknowledged: bool = False

    @property
    def firing(self) -> bool:
        """True while the alert fires."""
        return self.state == "firing"

    @property
    def summary(self) -> str:
        """The ``summary`` annotation, else the rule and its labels."""
        text = self.annotations.get("summary", "").strip()
        if text:
            return text
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return f"{self.rule} ({labels})" if labels else self.rule


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: a group of alerts for one receiver."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    status: str
    kind: str
    alerts: tuple[Alert, ...]
    truncated: int = 0
    live_url: str | None = None
    grafana_url: str | None = None

    @property
    def firing(self) -> tuple[Alert, ...]:
        """The alerts that fire."""
        return tuple(a for a in self.alerts if a.firing)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        """The alerts that have resolved."""
        return tuple(a for a in self.alerts if not a.firing)


def parse_payload(data: Any) -> Message:
    """Read a payload (a dict from the outbox); :class:`PayloadError` says what is wrong."""
    if not isinstance(data, Mapping):
        raise PayloadError(f"payload: expected an object, got {type(data).__name__}")
    kind = str(data.get("kind") or data.get("status") or "")
    if kind not in KINDS:
        raise PayloadError(f"payload: kind {kind!r} is not one of {', '.join(KINDS)}")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("payload: alerts must be a non-empty list")
    alerts = tuple(_alert(item, i) for i, item in enumerate(raw_alerts))
    status = str(data.get("status") or ("firing" if any(a.firing for a in alerts) else "resolved"))
    if status not in ("firing", "resolved"):
        raise PayloadError(f"payload: status {status!r} is not firing or resolved")
    return Message(
        receiver=str(data.get("receiver", "")),
        group_key=str(data.get("group_key", "")),
        group_labels=_texts(data.get("group_labels"), "group_labels"),
        status=status,
        kind=kind,
        alerts=alerts,
        truncated=_int(data.get("truncated", 0), "truncated"),
        live_url=_url(data.get("live_url")),
        grafana_url=_url(data.get("grafana_url")),
    )


def _alert(item: Any, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, Mapping):
        raise PayloadError(f"payload: {where}: expected an object")
    state = str(item.get("state") or "firing")
    if state not in ("firing", "resolved"):
        raise PayloadError(f"payload: {where}.state {state!r} is not firing or resolved")
    return Alert(
        rule=str(item.get("rule") or "alert"),
        severity=str(item.get("severity") or "warning"),
        state=state,
        labels=_texts(item.get("labels"), f"{where}.labels"),
        annotations=_texts(item.get("annotations"), f"{where}.annotations"),
        value=_number(item.get("value"), f"{where}.value"),
        threshold=_number(item.get("threshold"), f"{where}.threshold"),
        starts_at=_number(item.get("starts_at"), f"{where}.starts_at"),
        ends_at=_number(item.get("ends_at"), f"{where}.ends_at"),
        fingerprint=str(item.get("fingerprint") or ""),
        incident_id=str(item.get("incident_id") or ""),
        acknowledged=bool(item.get("acknowledged", False)),
    )


def _texts(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"payload: {where}: expected an object of texts")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"payload: {where}: expected a number or null")
    return float(value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"payload: {where}: expected a count")
    return value


def _url(value: Any) -> str | None:
    """Only http(s) links go into messages (never ``javascript:`` and friends)."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    return None


# ------------------------------------------------------------------ wording


def top_severity(alerts: tuple[Alert, ...]) -> str:
    """The most severe severity among ``alerts`` (unknown ones rank after info)."""
    if not alerts:
        return "info"
    return min((a.severity for a in alerts), key=lambda s: (SEVERITY_RANK.get(s, 9), s))


def colour(message: Message) -> str:
    """Message colour: the top severity of the firing alerts; green once resolved; test blue;
    an episode nobody was told about keeps its severity's colour (it is news)."""
    if message.kind == "test":
        return COLOURS["info"]
    if message.kind == EPISODE:
        return COLOURS.get(top_severity(message.alerts), COLOURS["unknown"])
    if message.status == "resolved" or not message.firing:
        return COLOURS["resolved"]
    return COLOURS.get(top_severity(message.firing), COLOURS["unknown"])


def subject_of(message: Message) -> tuple[str, str]:
    """What a message is about: (rule text, where text), e.g. ("nginx_5xx", "web-1")."""
    labels = message.group_labels
    rules = sorted({a.rule for a in message.alerts})
    rule = labels.get("rule") or (rules[0] if len(rules) == 1 else f"{len(rules)} rules")
    where = ", ".join(v for k, v in labels.items() if k not in ("rule", "severity") and v)
    if not where:
        hosts = {a.labels.get("host", "") for a in message.alerts}
        where = hosts.pop() if len(hosts) == 1 else ""
    return rule, where


def lasted(message: Message, now: float) -> float | None:
    """How long a resolved group fired: first start to last end (None if unknown)."""
    starts = [a.starts_at for a in message.alerts if a.starts_at is not None]
    if not starts:
        return None
    ends = [a.ends_at if a.ends_at is not None else now for a in message.alerts]
    return max(0.0, max(ends) - min(starts))


def episode_span(message: Message, now: float) -> str:
    """``fired 12:07:00 UTC, resolved 12:10:00 UTC, lasted 3m``: first start to last end."""
    starts = [a.starts_at for a in message.alerts if a.starts_at is not None]
    ends = [a.ends_at for a in message.alerts if a.ends_at is not None]
    parts = []
    if starts:
        parts.append(f"fired {format_time(min(starts), now)}")
    if ends:
        parts.append(f"resolved {format_time(max(ends), now)}")
    took = lasted(message, now)
    if took is not None:
        parts.append(f"lasted {format_duration(took)}")
    return ", ".join(parts)


def format_duration(seconds: float) -> str:
    """``45s``, ``7m 12s``, ``2h 5m``, ``3d 4h``: the two largest units."""
    total = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def format_time(ts: float, now: float) -> str:
    """``14:03:10 UTC`` today (UTC), else ``2025-11-21 14:03:10 UTC``."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.date() == datetime.fromtimestamp(now, UTC).date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_since(ts: float, now: float) -> str:
    """``14:03:10 UTC (5m ago)``."""
    ago = now - ts
    relative = f"{format_duration(ago)} ago" if ago >= 0 else f"in {format_duration(-ago)}"
    return f"{format_time(ts, now)} ({relative})"


def format_number(value: float) -> str:
    """A measured value, short: ``0.31``, ``1234``, ``1.235e+06``."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def build_test_payload(
    receiver: str,
    now: float,
    *,
    live_url: str | None = None,
    grafana_url: str | None = None,
) -> dict[str, Any]:
    """A ``kind: test`` payload for ``receiver``, shaped like a real one (one info alert)."""
    return {
        "version": 1,
        "receiver": receiver,
        "group_key": f"{receiver}|test",
        "group_labels": {"rule": "lookout_test", "receiver": receiver},
        "status": "firing",
        "kind": "test",
        "alerts": [
            {
                "fingerprint": "test",
                "rule": "lookout_test",
                "severity": "info",
                "labels": {"receiver": receiver},
                "annotations": {
                    "summary": f"Test notification from Lookout for receiver {receiver}",
                    "description": "If you can read this, Lookout can notify this receiver.",
                },
                "value": None,
                "threshold": None,
                "state": "firing",
                "starts_at": now,
                "ends_at": None,
                "incident_id": "",
                "acknowledged": False,
            }
        ],
        "truncated": 0,
        "live_url": live_url,
        "grafana_url": grafana_url,
    }
