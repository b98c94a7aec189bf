"""Delivery decisions and rate limits, driven by fixed timelines (no clock, no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from notifications.delivery import (
    Decision,
    HttpResult,
    NotSent,
    Outcome,
    RateLimits,
    Reason,
    Result,
    RetryPolicy,
    SmtpResult,
    TransportError,
    decide,
    describe_error,
    plan,
    retry_after_seconds,
)

T0 = datetime(2025, 11, 22, 14, 0, 0, tzinfo=UTC).timestamp()
POLICY = RetryPolicy(base=1.0, cap=300.0, max_attempts=8, max_age=3600.0)


def top(_: float = 0.0) -> float:
    """An rng that always draws the top of the jitter range."""
    return 1.0


def wait(decision: Decision) -> float:
    """Seconds from T0 to the decided retry."""
    assert decision.retry_at is not None, decision
    return decision.retry_at - T0


def run(result: Result, attempt: int = 1, *, now: float = T0, queued_at: float = T0,
        policy: RetryPolicy = POLICY, draw: float = 1.0) -> Decision:  # fmt: skip
    return decide(result, receiver="ops-slack", attempt=attempt, queued_at=queued_at, now=now,
                  policy=policy, rng=lambda: draw)  # fmt: skip


# ------------------------------------------------------------------ classification table


@pytest.mark.parametrize(
    ("result", "outcome", "reason"),
    [
        (HttpResult(200, body="ok"), Outcome.SENT, Reason.ACCEPTED),
        (HttpResult(204), Outcome.SENT, Reason.ACCEPTED),
        (HttpResult(429, retry_after="5"), Outcome.RETRY, Reason.RATE_LIMITED),
        (HttpResult(429), Outcome.RETRY, Reason.RATE_LIMITED),
        (HttpResult(500), Outcome.RETRY, Reason.SERVER_ERROR),
        (HttpResult(503), Outcome.RETRY, Reason.SERVER_ERROR),
        (HttpResult(400, body="invalid_payload"), Outcome.FAILED, Reason.CLIENT_ERROR),
        (HttpResult(403, body="action_prohibited"), Outcome.FAILED, Reason.CLIENT_ERROR),
        (HttpResult(404, body="no_service"), Outcome.FAILED, Reason.CLIENT_ERROR),
        (HttpResult(408), Outcome.FAILED, Reason.CLIENT_ERROR),  # contract: 4xx but 429 fail
        (HttpResult(410, body="channel_is_archived"), Outcome.FAILED, Reason.CLIENT_ERROR),
        (HttpResult(301), Outcome.FAILED, Reason.UNEXPECTED_STATUS),
        (SmtpResult(250, "OK"), Outcome.SENT, Reason.ACCEPTED),
        (SmtpResult(421, "closing"), Outcome.RETRY, Reason.SMTP_TEMPORARY),
        (SmtpResult(451, "4.3.0 try later"), Outcome.RETRY, Reason.SMTP_TEMPORARY),
        (SmtpResult(535, "5.7.8 bad credentials"), Outcome.FAILED, Reason.SMTP_PERMANENT),
        (SmtpResult(550, "no such user"), Outcome.FAILED, Reason.SMTP_PERMANENT),
        (TransportError("connection", "refused"), Outcome.RETRY, Reason.CONNECTION),
        (TransportError("timeout", "no answer"), Outcome.RETRY, Reason.TIMEOUT),
        (TransportError("invalid", "bad URL"), Outcome.FAILED, Reason.INVALID_CONFIG),
        (NotSent("bad_payload", "kind 'x'"), Outcome.FAILED, Reason.BAD_PAYLOAD),
        (NotSent("unknown_receiver", "gone"), Outcome.RETRY, Reason.UNKNOWN_RECEIVER),
    ],
)
def test_each_result_maps_to_one_outcome(result: Result, outcome: Outcome, reason: Reason) -> None:
    decision = run(result)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    if outcome is Outcome.SENT:
        assert decision.error is None and decision.retry_at is None
    elif outcome is Outcome.RETRY:
        assert decision.retry_at is not None and decision.retry_at >= T0
        assert decision.error and decision.error.startswith("ops-slack: ")
    else:
        assert decision.retry_at is None and not decision.gave_up
        assert decision.error and decision.error.startswith("ops-slack: ")


def test_client_error_names_receiver_status_and_body_start() -> None:
    body = "invalid_payload " + "x" * 500 + "\n\nTRAILER"
    decision = run(HttpResult(400, body=body))
    assert decision.outcome is Outcome.FAILED
    assert decision.error == f"ops-slack: HTTP 400: {body.split()[0]} {'x' * 184}"
    assert len(decision.error) == len("ops-slack: HTTP 400: ") + 200
    assert "TRAILER" not in decision.error


def test_empty_body_is_said() -> None:
    assert run(HttpResult(404)).error == "ops-slack: HTTP 404: (empty body)"


# ------------------------------------------------------------------ backoff timeline


def test_backoff_doubles_from_base_to_cap_with_top_draw() -> None:
    #  attempt:   1   2   3   4    5    6    7     8
    #  ceiling:   1   2   4   8   16   32   64   128   (cap 300 not reached)
    policy = RetryPolicy(base=1.0, cap=300.0, max_attempts=20, max_age=10**9)
    delays = [wait(run(HttpResult(503), n, policy=policy)) for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999])
def test_full_jitter_draws_between_zero_and_the_ceiling(draw: float) -> None:
    for attempt in range(1, 8):
        decision = run(TransportError("timeout", "t"), attempt, draw=draw)
        ceiling = POLICY.ceiling(attempt)
        assert wait(decision) == pytest.approx(draw * ceiling)
        assert 0 <= wait(decision) <= ceiling


def test_jitter_uses_the_injected_rng_once_per_decision() -> None:
    draws = iter([0.1, 0.9])
    first = decide(HttpResult(500), receiver="r", attempt=3, queued_at=T0, now=T0,
                   policy=POLICY, rng=lambda: next(draws))  # fmt: skip
    second = decide(HttpResult(500), receiver="r", attempt=3, queued_at=T0, now=T0,
                    policy=POLICY, rng=lambda: next(draws))  # fmt: skip
    assert (wait(first), wait(second)) == pytest.approx((0.4, 3.6))


def test_gives_up_at_max_attempts() -> None:
    # attempts 1..7 retry, attempt 8 (the max) fails with the last error and a note
    outcomes = [run(HttpResult(500, body="boom"), n).outcome for n in range(1, 9)]
    assert outcomes == [Outcome.RETRY] * 7 + [Outcome.FAILED]
    last = run(HttpResult(500, body="boom"), 8)
    assert last.gave_up and last.reason is Reason.SERVER_ERROR
    assert last.error == "ops-slack: HTTP 500: boom (gave up after 8 attempts)"


def test_gives_up_when_the_next_try_would_pass_max_age() -> None:
    #  queued T0 ........................................ T0+3600 (max age)
    #  attempt 2 fails at T0+3598, next try at +2 s (draw 1, ceiling 2) -> T0+3600: still ok
    #  attempt 2 fails at T0+3599, next try at T0+3601 -> gave up
    assert run(HttpResult(500), 2, now=T0 + 3598).outcome is Outcome.RETRY
    late = run(HttpResult(500), 2, now=T0 + 3599)
    assert late.outcome is Outcome.FAILED and late.gave_up
    assert "gave up" in (late.error or "")


def test_success_is_sent_even_after_max_attempts_or_age() -> None:
    assert run(HttpResult(200), 99, now=T0 + 10**6).outcome is Outcome.SENT


def test_permanent_failure_is_not_a_give_up() -> None:
    decision = run(HttpResult(400, body="bad"), 8)
    assert decision.outcome is Outcome.FAILED and not decision.gave_up


# ------------------------------------------------------------------ 429 and Retry-After


def test_429_waits_exactly_retry_after_seconds_without_jitter() -> None:
    decision = run(HttpResult(429, retry_after="30"), draw=0.0)
    assert decision.retry_at == T0 + 30


def test_429_with_an_http_date() -> None:
    later = datetime.fromtimestamp(T0 + 90, UTC)
    decision = run(HttpResult(429, retry_after=format_datetime(later, usegmt=True)), draw=0.0)
    assert decision.retry_at == T0 + 90


def test_429_without_or_with_bad_retry_after_uses_backoff() -> None:
    assert run(HttpResult(429), 3, draw=0.5).retry_at == T0 + 2.0
    assert run(HttpResult(429, retry_after="soon"), 3, draw=0.5).retry_at == T0 + 2.0


def test_429_beyond_max_age_gives_up() -> None:
    decision = run(HttpResult(429, retry_after="7200"))
    assert decision.outcome is Outcome.FAILED and decision.gave_up


def test_429_with_retry_after_is_not_an_attempt() -> None:
    # a storm throttled by Slack for minutes (Retry-After 5 s, again and again) must not use up
    # the message's attempts: past max_attempts (8 here) it still waits, only max_age ends it
    for attempt in (1, 8, 50):
        decision = run(HttpResult(429, retry_after="5"), attempt)
        assert (decision.outcome, decision.counted) == (Outcome.RETRY, False)
        assert decision.retry_at == T0 + 5
    late = run(HttpResult(429, retry_after="5"), 50, now=T0 + 3598)
    assert late.outcome is Outcome.FAILED and late.gave_up


def test_429_without_retry_after_is_an_attempt() -> None:
    assert run(HttpResult(429), 7).counted
    last = run(HttpResult(429), 8)
    assert last.outcome is Outcome.FAILED and last.gave_up
    assert run(HttpResult(500), 3).counted


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("Sat, 22 Nov 2025 14:01:00 GMT", 60.0),
        ("Sat, 22 Nov 2025 13:00:00 GMT", 0.0),  # in the past: now
        ("-5", None),
        ("tomorrow", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, T0) == expected


# ------------------------------------------------------------------ errors never carry secrets


def test_describe_error_blanks_secret_urls_and_their_paths() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    exc = OSError(f"cannot reach {url} (path /services/T000/B000/XXXXSECRET)")
    text = describe_error(exc, secrets=(url,))
    assert "XXXXSECRET" not in text
    assert text.startswith("OSError: cannot reach ***")


def test_describe_error_is_bounded() -> None:
    assert len(describe_error(ValueError("x" * 5000))) == 500


# ------------------------------------------------------------------ token buckets


def test_bucket_allows_burst_then_rate() -> None:
    # rate 1/s, burst 3:  t=0: 3 tokens -> 3 sends, 4th waits 1 s; t=1: one more; t=1.5: 0.5 s
    limits = RateLimits({"r": (1.0, 3.0)})
    assert [limits.take("r", T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.take("r", T0) == pytest.approx(1.0)
    assert limits.take("r", T0 + 1.0) == 0.0
    assert limits.take("r", T0 + 1.5) == pytest.approx(0.5)
    assert limits.take("r", T0 + 2.0) == 0.0


def test_bucket_refills_up_to_burst_only() -> None:
    limits = RateLimits({"r": (2.0, 2.0)})
    assert limits.take("r", T0) == 0.0
    # an hour of silence saves up only `burst` tokens
    assert [limits.take("r", T0 + 3600) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_buckets_are_per_receiver_and_unknown_is_unlimited() -> None:
    limits = RateLimits({"a": (1.0, 1.0), "b": (1.0, 1.0)})
    assert limits.take("a", T0) == 0.0
    assert limits.take("b", T0) == 0.0
    assert limits.take("a", T0) > 0
    assert all(limits.take("other", T0) == 0.0 for _ in range(100))


def test_a_clock_stepping_back_does_not_drain_tokens() -> None:
    limits = RateLimits({"r": (1.0, 2.0)})
    assert limits.take("r", T0) == 0.0
    assert limits.take("r", T0 - 100) == 0.0  # treated as T0: one token was left
    assert limits.take("r", T0 - 100) == pytest.approx(1.0)


def test_plan_spreads_a_backlog_one_token_apart() -> None:
    # 8 rows for "slack" (rate 2/s, burst 3) and 2 for "mail" at T0:
    #  slack: 3 now, then T0+0.5, +1.0, +1.5, +2.0, +2.5 ; mail (1/s, burst 5): both now
    limits = RateLimits({"slack": (2.0, 3.0), "mail": (1.0, 5.0)})
    receivers = ["slack"] * 4 + ["mail"] + ["slack"] * 4 + ["mail"]
    times = plan(receivers, limits, T0)
    slack = [t for r, t in zip(receivers, times, strict=True) if r == "slack"]
    mail = [t for r, t in zip(receivers, times, strict=True) if r == "mail"]
    assert slack[:3] == [None, None, None]
    assert [t - T0 for t in slack[3:] if t is not None] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])
    assert mail == [None, None]


def test_plan_then_due_rows_get_their_tokens() -> None:
    # timeline of a drained backlog (rate 2/s, burst 1): every postponed row, when it comes due
    # at its planned time, finds exactly one token
    limits = RateLimits({"r": (2.0, 1.0)})
    times = plan(["r"] * 5, limits, T0)
    assert times[0] is None
    for due in times[1:]:
        assert due is not None
        assert plan(["r"], limits, due) == [None]
