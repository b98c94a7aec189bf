"""Dispatcher decisions that need no Postgres: leases, postponements, failures of a send."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from app.stats import Stats
from notifications.delivery import HttpResult, Outcome, Reason, Result, RetryPolicy
from notifications.receivers import Receiver
from sinks.notify.dispatcher import Dispatcher
from sinks.notify.outbox import OutboxRow
from tests.unit.notify.samples import NOW, payload

SECRET = "https://hooks.slack.com/services/T0/B0/VERYSECRET"


def receiver(name: str, *, rate: float = 1.0, burst: int = 2, timeout: str = "5s") -> Receiver:
    data = {"name": name, "slack": {"webhook_url": "${U}", "rate": rate, "burst": burst,
                                    "timeout": timeout}}  # fmt: skip
    return Receiver.model_validate(data, context={"environ": {"U": SECRET}})


def row(row_id: int, name: str, *, attempts: int = 0, age: float = 0.0) -> OutboxRow:
    return OutboxRow(
        id=row_id, idempotency_key=f"k{row_id}", group_key=f"{name}|g", transition_id=None,
        receiver=name, status="pending", reason=None, attempts=attempts, next_attempt_at=None,
        last_error=None, payload=payload(receiver=name),
        created_at=datetime.fromtimestamp(NOW - age, UTC), sent_at=None,
    )  # fmt: skip


class FakeTransport:
    """Answers every send with ``result`` (or raises ``error``)."""

    def __init__(self, result: Result | None = None, error: Exception | None = None) -> None:
        self.result, self.error = result, error
        self.sent: list[tuple[str, str, float]] = []

    async def setup(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, receiver: Receiver, body: Any, key: str, now: float) -> Result:
        self.sent.append((receiver.name, key, now))
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def dispatcher(*receivers: Receiver, transport: Any = None, **options: Any) -> Dispatcher:
    return Dispatcher("postgresql://unused", receivers, Stats(), clock=lambda: NOW,
                      transport=transport or FakeTransport(HttpResult(200)), **options)  # fmt: skip


def test_split_leases_in_order_and_postpones_the_rest() -> None:
    # a: rate 1/s, burst 2, timeout 5 s -> rows 1, 2 sent (leases +30+5, +30+10); 3, 4 postponed
    # b: burst 2 as well, timeout 1 s -> row 5 sent; unknown receiver -> sent (fails later)
    d = dispatcher(receiver("a"), receiver("b", timeout="1s"), lease_margin=30.0)
    rows = [row(1, "a"), row(2, "a"), row(3, "a"), row(5, "b"), row(4, "a"), row(6, "gone")]
    leases, later = d._split(rows, NOW)
    assert [(r.id, end.timestamp() - NOW) for r, end in leases] == [
        (1, 35.0), (2, 40.0), (5, 31.0), (6, 31.0)
    ]  # fmt: skip
    assert [(r.id, at - NOW) for r, at in later] == [(3, 1.0), (4, 2.0)]


async def test_a_send_that_raises_is_a_retry_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    boom = RuntimeError(f"unexpected failure posting to {SECRET}")
    d = dispatcher(receiver("a"), transport=FakeTransport(error=boom))
    with caplog.at_level(logging.DEBUG, logger="sinks.notify"):
        decision, now = await d._deliver(row(1, "a"))
    assert (decision.outcome, decision.reason, now) == (Outcome.RETRY, Reason.CONNECTION, NOW)
    assert decision.error is not None and "VERYSECRET" not in decision.error
    assert "RuntimeError" in caplog.text and "VERYSECRET" not in caplog.text


async def test_unknown_receiver_is_retried_then_given_up() -> None:
    d = dispatcher(receiver("a"), policy=RetryPolicy(max_attempts=3))
    first, _ = await d._deliver(row(1, "gone"))
    last, _ = await d._deliver(row(1, "gone", attempts=2))
    assert (first.outcome, first.reason) == (Outcome.RETRY, Reason.UNKNOWN_RECEIVER)
    assert (last.outcome, last.gave_up) == (Outcome.FAILED, True)
    assert "receiver 'gone' is not in the notify config" in (last.error or "")


async def test_attempt_number_and_age_come_from_the_row() -> None:
    d = dispatcher(receiver("a"), transport=FakeTransport(HttpResult(500)), rng=lambda: 1.0,
                   policy=RetryPolicy(max_attempts=8, max_age=600))  # fmt: skip
    assert (await d._deliver(row(1, "a", attempts=6)))[0].outcome is Outcome.RETRY
    assert (await d._deliver(row(1, "a", attempts=7)))[0].gave_up  # attempt 8 of 8
    assert (await d._deliver(row(1, "a", age=599.5)))[0].gave_up  # next try 1 s: past 10 min


def test_metric_help_is_registered() -> None:
    d = dispatcher(receiver("a"))
    assert "lookout_notifications_total" in d.stats.help
