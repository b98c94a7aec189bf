"""Parsed records: what every wire-format parser returns (pure, standard library only).

Times are float seconds since the Unix epoch (UTC) or ``None`` when the record carries no time;
the worker then falls back to processing time and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FieldValue = float | int | bool | str


class ParseError(ValueError):
    """A record could not be parsed; ``reason`` is a short machine-friendly cause."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Metric:
    """One Telegraf metric: measurement name, tags, fields and an optional timestamp."""

    name: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time: float | None = None


@dataclass(slots=True)
class AccessLog:
    """One nginx access-log request."""

    time: float | None
    host: str
    service: str
    client_ip: str
    status: int
    bytes: int
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    remote_user: str | None = None
    referrer: str | None = None
    agent: str | None = None
    forwarded_for: list[str] = field(default_factory=list)
    request_time: float | None = None
    upstream_time: float | None = None


@dataclass(slots=True)
class ErrorLog:
    """One nginx error-log entry (the message may span several lines)."""

    time: float | None
    host: str
    service: str
    level: str
    message: str
    pid: int | None = None
    tid: int | None = None
    connection: int | None = None
    client: str | None = None
    server: str | None = None
    request: str | None = None
    upstream: str | None = None
    vhost: str | None = None


@dataclass(slots=True)
class AppLog:
    """One application JSON log record; unknown keys are kept in ``extra``."""

    time: float | None
    level: str
    service: str
    host: str
    message: str
    extra: dict[str, object] = field(default_factory=dict)


LogRecord = AccessLog | ErrorLog | AppLog


@dataclass(slots=True)
class Rejected:
    """A part of a message that could not be parsed: the reason and the original bytes."""

    reason: str
    detail: str
    original: bytes
