"""Delivery decisions (pure): what one send's result means, and per-receiver rate limits.

A send produces a :data:`Result`; :func:`decide` turns it into a :class:`Decision` for the
outbox row (docs/NOTIFY-CONTRACT.md):

============================================  ===========================================
result                                        decision
============================================  ===========================================
HTTP 2xx, SMTP 2xx (250)                      SENT
HTTP 429                                      RETRY at Retry-After (seconds or HTTP date;
                                              not counted as an attempt); without a
                                              readable Retry-After, backoff (counted)
HTTP 5xx, connection error, timeout,          RETRY after exponential backoff with full
SMTP 4xx, receiver missing from the config    jitter: ``rng() * min(cap, base * 2**(n-1))``
HTTP 4xx but 429, other HTTP statuses,        FAILED at once; the error names the receiver,
SMTP 5xx, bad payload, invalid URL            the status and the body's first 200 chars
============================================  ===========================================

A RETRY becomes FAILED ("gave up") when this was attempt ``max_attempts`` or when the next try
would come later than ``max_age`` after the row was queued. A 429 that says when to come back is
the receiver's flow control, like our own rate limit: it is not an attempt (a storm that Slack
throttles for minutes must not use up a message's attempts), so only ``max_age`` ends it.
Time is an argument (``now``) and the jitter draws from an injected ``rng``, so every path is a
table-driven test.

:class:`RateLimits` keeps one token bucket (rate, burst) per receiver; :func:`plan` says, for
due rows in order, which may go now and until when the others are postponed (spread one token
interval apart, so a backlog drains at ``rate`` without waking every row each time). Postponing
is not an attempt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal
from urllib.parse import urlsplit

from app.backoff import Backoff
from app.ratelimit import TokenBucket

BODY_CHARS = 200


class Outcome(StrEnum):
    """What happens to the outbox row."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    POSTPONED = "postponed"


class Reason(StrEnum):
    """Why: one value per row of the module docstring's table (easy to log and count)."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    UNEXPECTED_STATUS = "unexpected_status"
    SMTP_TEMPORARY = "smtp_temporary"
    SMTP_PERMANENT = "smtp_permanent"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    INVALID_CONFIG = "invalid_config"
    BAD_PAYLOAD = "bad_payload"
    UNKNOWN_RECEIVER = "unknown_receiver"
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class HttpResult:
    """A webhook answered: status, Retry-After header (if any) and the start of the body."""

    status: int
    retry_after: str | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class SmtpResult:
    """An SMTP server's final reply to a message (250 when accepted)."""

    code: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class TransportError:
    """No answer: the connection failed, timed out, or the target is invalid (no secrets)."""

    kind: Literal["connection", "timeout", "invalid"]
    error: str


@dataclass(frozen=True, slots=True)
class NotSent:
    """Nothing was tried: the payload breaks the contract or the receiver is not configured."""

    kind: Literal["bad_payload", "unknown_receiver"]
    error: str


Result = HttpResult | SmtpResult | TransportError | NotSent


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff (full jitter) and when to give up."""

    base: float = 1.0
    cap: float = 300.0
    max_attempts: int = 20
    max_age: float = 3600.0

    def ceiling(self, attempt: int) -> float:
        """Largest delay after attempt ``attempt`` (1-based) failed."""
        return Backoff(base=self.base, cap=self.cap).ceiling(attempt - 1)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one attempt; ``retry_at`` (unix seconds) for RETRY and POSTPONED;
    ``counted`` False for a RETRY that does not use up an attempt (429 with Retry-After)."""

    outcome: Outcome
    reason: Reason
    retry_at: float | None = None
    error: str | None = None
    gave_up: bool = False
    counted: bool = True


def decide(
    result: Result,
    *,
    receiver: str,
    attempt: int,
    queued_at: float,
    now: float,
    policy: RetryPolicy,
    rng: Callable[[], float],
) -> Decision:
    """Decide attempt number ``attempt`` (1-based) of a row queued at ``queued_at``."""
    reason, error, retryable, wait = _classify(result, receiver, now)
    if reason is Reason.ACCEPTED:
        return Decision(Outcome.SENT, reason)
    if not retryable:
        return Decision(Outcome.FAILED, reason, error=error)
    delay = wait if wait is not None else rng() * policy.ceiling(attempt)
    retry_at = now + max(0.0, delay)
    counted = not (reason is Reason.RATE_LIMITED and wait is not None)
    if counted and attempt >= policy.max_attempts:
        note = f"gave up after {attempt} attempts"
    elif retry_at - queued_at > policy.max_age:
        note = f"gave up: the next try would come more than {policy.max_age:g} s after queueing"
    else:
        return Decision(Outcome.RETRY, reason, retry_at=retry_at, error=error, counted=counted)
    return Decision(Outcome.FAILED, reason, error=f"{error} ({note})", gave_up=True)


def _classify(result: Result, receiver: str, now: float) -> tuple[Reason, str, bool, float | None]:
    """(reason, error text, retryable, fixed wait or None for backoff)."""
    if isinstance(result, HttpResult):
        status = result.status
        if 200 <= status < 300:
            return Reason.ACCEPTED, "", False, None
        text = f"{receiver}: HTTP {status}: {_body(result.body)}"
        if status == 429:
            return Reason.RATE_LIMITED, text, True, retry_after_seconds(result.retry_after, now)
        if status >= 500:
            return Reason.SERVER_ERROR, text, True, None
        if 400 <= status < 500:
            return Reason.CLIENT_ERROR, text, False, None
        return Reason.UNEXPECTED_STATUS, f"{text} (check the webhook URL)", False, None
    if isinstance(result, SmtpResult):
        text = f"{receiver}: SMTP {result.code}: {_body(result.message)}"
        if 200 <= result.code < 300:
            return Reason.ACCEPTED, "", False, None
        if 400 <= result.code < 500:
            return Reason.SMTP_TEMPORARY, text, True, None
        return Reason.SMTP_PERMANENT, text, False, None
    if isinstance(result, TransportError):
        text = f"{receiver}: {result.kind}: {result.error}"
        if result.kind == "invalid":
            return Reason.INVALID_CONFIG, text, False, None
        reason = Reason.TIMEOUT if result.kind == "timeout" else Reason.CONNECTION
        return reason, text, True, None
    text = f"{receiver}: {result.error}"
    if result.kind == "unknown_receiver":
        return Reason.UNKNOWN_RECEIVER, text, True, None
    return Reason.BAD_PAYLOAD, text, False, None


def _body(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:BODY_CHARS] if flat else "(empty body)"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date); None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def describe_error(exc: BaseException, *, secrets: Iterable[str] = ()) -> str:
    """``ErrorClass: message`` with every secret (and a secret URL's path) blanked out."""
    text = " ".join(str(exc).split()) or "no details"
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        parts = urlsplit(secret)
        for piece in (parts.path, parts.query):
            if len(piece) > 1:
                text = text.replace(piece, "***")
    return f"{type(exc).__name__}: {text}"[:500]


# ------------------------------------------------------------------ rate limits


class RateLimits:
    """One token bucket per receiver; time is passed in, so tests drive it with a timeline."""

    def __init__(self, limits: Mapping[str, tuple[float, float]]) -> None:
        self.buckets = {name: TokenBucket(rate, burst) for name, (rate, burst) in limits.items()}
        self._last = float("-inf")

    def take(self, receiver: str, now: float) -> float:
        """0 when ``receiver`` may send one message now (a token is used), else seconds to wait."""
        bucket = self.buckets.get(receiver)
        if bucket is None:
            return 0.0
        self._last = max(self._last, now)  # a wall clock stepping back must not drain tokens
        return bucket.take(self._last)

    def interval(self, receiver: str) -> float:
        """Seconds between two tokens of ``receiver`` (0 if unlimited)."""
        bucket = self.buckets.get(receiver)
        return 1.0 / bucket.rate if bucket is not None else 0.0


def plan(receivers: Sequence[str], limits: RateLimits, now: float) -> list[float | None]:
    """For due rows (their receivers, in order): None = send now, else postpone to that time."""
    blocked: dict[str, int] = {}
    out: list[float | None] = []
    for receiver in receivers:
        wait = limits.take(receiver, now)
        if wait <= 0:
            out.append(None)
            continue
        ahead = blocked.get(receiver, 0)
        blocked[receiver] = ahead + 1
        out.append(now + wait + ahead * limits.interval(receiver))
    return out


def postponed(retry_at: float) -> Decision:
    """The decision for a row that found no token (not an attempt)."""
    return Decision(Outcome.POSTPONED, Reason.THROTTLED, retry_at=retry_at)
