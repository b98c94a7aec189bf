"""The simulator's log entries before they are rendered to a wire format."""

from __future__ import annotations

from typing import NamedTuple


class AccessEntry(NamedTuple):
    """One request as nginx logs it; ``time`` is when it was written (the log shows seconds)."""

    time: float
    service: int
    client_ip: str
    verb: str
    request: str
    status: int
    size: int
    referrer: str
    agent: str
    request_time: float
    upstream_time: float


class ErrorEntry(NamedTuple):
    """One raw nginx error-log line."""

    time: float
    service: int
    line: str


class AppEntry(NamedTuple):
    """One application log record (millisecond ``time``)."""

    time: float
    service: int
    level: str
    message: str
    trace_id: str
