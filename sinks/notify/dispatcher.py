"""The dispatcher: sends due outbox rows to their receivers and records each outcome.

An asyncio loop (:meth:`Dispatcher.start` / :meth:`Dispatcher.stop`; inside a Faust worker via
:class:`agents.notifier.Notifier`, or alone via :func:`run_dispatcher`):

1. record outcomes that could not be written earlier (Postgres was away);
2. in one short transaction, claim due rows (``FOR UPDATE SKIP LOCKED``, oldest first, none of a
   receiver this process is still sending to, only the oldest pending row of each group, so a
   group's messages arrive in order), take a rate-limit token per row (receiver's
   ``rate``/``burst``) and *lease* the rows that got one (``next_attempt_at`` = now + margin +
   the sends ahead of it times the receiver's timeout) or *postpone* the others to their token
   time (not an attempt);
3. after the commit, one task per receiver sends its leased rows in order over the shared
   :class:`~sinks.notify.transport.Transport`, and each outcome is written at once in one UPDATE
   (:mod:`sinks.notify.outbox`) as decided by :func:`notifications.delivery.decide`;
4. sleep until the next row is due (at most ``poll`` seconds), a receiver finishes, or
   :meth:`Dispatcher.nudge`.

Postgres down: the loop logs, counts, backs off (capped) and tries again; it never ends on its
own. A bug in one send is a retryable failure of that row, never the end of the loop.

**Exactly once, and where it is at least once.** A row is marked ``sent`` by one UPDATE right
after the receiver's 2xx (Slack) or 250 (SMTP); a ``sent`` row is never claimed again, so a
restart resumes only ``pending`` rows. A row whose sender died mid-flight stays ``pending``
until its lease ends, then anyone sends it again. The one window left is between the receiver's
acknowledgement and the commit of that UPDATE (a few milliseconds; longer only if Postgres is
away then, in which case the outcome is kept in memory and written first when it is back). A
process killed inside that window sends the row again after the lease: at least once at that
instant. Every send carries the row's idempotency key (webhook header
``X-Lookout-Idempotency-Key``; email ``Message-ID`` derived from it), so a receiver can drop
the duplicate.

Rate limits are per dispatcher process; with N workers a receiver may get up to N times its rate.
Logs name the receiver, row id, outcome, attempt and reason only: never a webhook URL,
password or message body (the full error text is in the row's ``last_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.backoff import Backoff
from app.signals import stop_on_signals
from app.stats import TIME_BUCKETS, Stats
from notifications.delivery import (
    Decision,
    NotSent,
    Outcome,
    RateLimits,
    Result,
    RetryPolicy,
    TransportError,
    decide,
    describe_error,
    plan,
    postponed,
)
from notifications.receivers import Receiver
from sinks.notify import outbox
from sinks.notify.outbox import OutboxRow
from sinks.notify.transport import Sender, Transport
from sinks.pg_pool import open_pool

log = logging.getLogger(__name__)

DELIVERY_SECONDS = "lookout_notify_delivery_seconds"
HELP = {
    "lookout_notifications_total": "Notification attempts by receiver and outcome "
    "(sent, retry, failed, postponed)",
    "lookout_notify_outbox_errors_total": "Dispatcher passes that failed (Postgres away)",
    "lookout_notify_up": "1 when the dispatcher's last pass reached Postgres",
    "lookout_notify_unrecorded": "Outcomes waiting to be written to the outbox",
    "lookout_notify_dispatch_passes_total": "Dispatcher passes that reached Postgres",
}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(slots=True)
class _Unrecorded:
    row: OutboxRow
    lease_end: datetime
    decision: Decision
    now: float


class Dispatcher:
    """Sends due outbox rows; see the module docstring for the loop and its guarantees."""

    def __init__(
        self,
        dsn: str,
        receivers: Iterable[Receiver],
        stats: Stats | None = None,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 50,
        poll: float = 1.0,
        lease_margin: float = 30.0,
        grace: float = 10.0,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        db_backoff: Backoff | None = None,
        transport: Sender | None = None,
        pool_size: int = 4,
    ) -> None:
        self.dsn = dsn
        self.receivers = {r.name: r for r in receivers}
        self.stats = stats if stats is not None else Stats()
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.poll = poll
        self.lease_margin = lease_margin
        self.grace = grace
        self.clock = clock
        self.rng = rng
        self.db_backoff = db_backoff or Backoff(base=0.5, cap=30.0)
        self.transport: Sender = transport or Transport()
        self.pool_size = pool_size
        self.limits = RateLimits(
            {r.name: (r.rate, float(r.burst)) for r in self.receivers.values()}
        )
        self._pool: Any = None
        self._loop_task: asyncio.Task[None] | None = None
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._unsent: dict[int, datetime] = {}
        self._unrecorded: list[_Unrecorded] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.stats.help.update(HELP)
        names = sorted(self.receivers)
        outcomes = [{"receiver": r, "outcome": o.value} for r in names for o in Outcome]
        self.stats.declare("lookout_notifications_total", "", outcomes)
        self.stats.declare("lookout_notify_outbox_errors_total", "")
        help_ = "Seconds per notification delivery attempt, by receiver"
        by_receiver = [{"receiver": r} for r in names]
        self.stats.histogram(DELIVERY_SECONDS, TIME_BUCKETS, help_, by_receiver)

    # ------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Start the loop (returns at once; Postgres need not be up yet)."""
        if self._loop_task is not None:
            return
        self._stopping = False
        await self.transport.setup()
        self._loop_task = asyncio.create_task(self._run(), name="lookout-notify-dispatcher")
        log.info("notify: dispatcher started (%d receivers)", len(self.receivers))

    async def stop(self) -> None:
        """Stop: let sends in flight finish (up to ``grace`` s), hand unsent leases back."""
        self._stopping = True
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        busy = [t for t in self._busy.values() if not t.done()]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self.grace)
            for t in late:
                t.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
        self._busy.clear()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._hand_back(), timeout=5.0)
            except Exception as exc:
                log.warning(
                    "notify: at stop, %d outcomes and %d leases could not be written (%s); "
                    "their rows are sent again after the lease",
                    len(self._unrecorded),
                    len(self._unsent),
                    type(exc).__name__,
                )
            self._unsent.clear()
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except (TimeoutError, OSError):
                pool.terminate()
        await self.transport.close()
        log.info("notify: dispatcher stopped")

    async def _hand_back(self) -> None:
        await self._flush_unrecorded()
        if self._unsent:
            async with self._pool.acquire() as conn:
                await outbox.release(conn, list(self._unsent.items()), now=_dt(self.clock()))

    def nudge(self) -> None:
        """Look for due rows now (e.g. right after rows were inserted in this process)."""
        self._wake.set()

    # ------------------------------------------------------------ the loop

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()  # a nudge from here on wakes the sleep below
            try:
                wait = await self.run_once()
                failures = 0
                self.stats.set("lookout_notify_up", 1.0)
                self.stats.inc("lookout_notify_dispatch_passes_total")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres away or a bug: back off, never end the loop
                wait = self.db_backoff.delay(failures)
                failures += 1
                self.stats.inc("lookout_notify_outbox_errors_total")
                self.stats.set("lookout_notify_up", 0.0)
                log.warning(
                    "notify: outbox pass failed (%s), trying again in %.1f s",
                    type(exc).__name__,
                    wait,
                )
            self.stats.set("lookout_notify_unrecorded", float(len(self._unrecorded)))
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def run_once(self) -> float:
        """One pass: record, claim, start sends; returns the seconds to sleep before the next."""
        pool = await self._ensure_pool()
        await self._flush_unrecorded()
        now = self.clock()
        busy = [name for name, task in self._busy.items() if not task.done()]
        async with pool.acquire() as conn:
            async with conn.transaction():
                rows = await outbox.claim_due(conn, now=_dt(now), limit=self.batch, exclude=busy)
                leases, later = self._split(rows, now)
                await outbox.lease(conn, [(row.id, end) for row, end in leases])
                await outbox.postpone(conn, [(row.id, _dt(at)) for row, at in later])
            for row, at in later:
                self._count(row.receiver, postponed(at))
                log.debug("notify: %s row %d postponed %.2f s", row.receiver, row.id, at - now)
            by_receiver: dict[str, list[tuple[OutboxRow, datetime]]] = {}
            for row, end in leases:
                by_receiver.setdefault(row.receiver, []).append((row, end))
                self._unsent[row.id] = end
            for name, items in by_receiver.items():
                task = asyncio.create_task(self._send_all(items), name=f"lookout-notify-{name}")
                task.add_done_callback(self._sender_done)
                self._busy[name] = task
            if len(rows) >= self.batch:
                return 0.0
            busy = [name for name, task in self._busy.items() if not task.done()]
            due = await outbox.next_due(conn, exclude=busy)
        if due is None:
            return self.poll
        return min(self.poll, max(0.0, due.timestamp() - self.clock()))

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("notify: %s ended with %r", task.get_name(), task.exception())

    def _split(
        self, rows: list[OutboxRow], now: float
    ) -> tuple[list[tuple[OutboxRow, datetime]], list[tuple[OutboxRow, float]]]:
        """Rows to send now with their lease ends, and rows postponed to a token time."""
        leases: list[tuple[OutboxRow, datetime]] = []
        later: list[tuple[OutboxRow, float]] = []
        ahead: dict[str, int] = {}
        for row, at in zip(rows, plan([r.receiver for r in rows], self.limits, now), strict=True):
            if at is not None:
                later.append((row, at))
                continue
            receiver = self.receivers.get(row.receiver)
            timeout = receiver.timeout if receiver is not None else 1.0
            ahead[row.receiver] = ahead.get(row.receiver, 0) + 1
            leases.append((row, _dt(now + self.lease_margin + ahead[row.receiver] * timeout)))
        return leases, later

    async def _ensure_pool(self) -> Any:
        if self._pool is None:
            self._pool = await open_pool(
                self.dsn,
                name="lookout-notify-dispatch",
                size=self.pool_size,
                statement_timeout=25.0,
                min_size=1,
            )
        return self._pool

    # ------------------------------------------------------------ sending

    async def _send_all(self, items: list[tuple[OutboxRow, datetime]]) -> None:
        for row, lease_end in items:
            if self._stopping:
                return
            decision, now = await self._deliver(row)
            await self._record(_Unrecorded(row, lease_end, decision, now))

    async def _deliver(self, row: OutboxRow) -> tuple[Decision, float]:
        receiver = self.receivers.get(row.receiver)
        result: Result
        if receiver is None:
            result = NotSent(
                "unknown_receiver",
                f"receiver {row.receiver!r} is not in the notify config (add it, or its rows "
                "fail after the retries)",
            )
        else:
            started = time.perf_counter()
            try:
                result = await self.transport.send(
                    receiver, row.payload, row.idempotency_key, self.clock()
                )
            except Exception as exc:  # a bug in rendering or sending: retry, never crash
                # class only: a traceback's messages could quote a webhook URL
                log.error(
                    "notify: %s row %d: unexpected %s while sending (a bug; retried)",
                    row.receiver,
                    row.id,
                    type(exc).__name__,
                )
                text = describe_error(exc, secrets=_secrets(receiver))
                result = TransportError("connection", text)
            elapsed = time.perf_counter() - started
            self.stats.observe(DELIVERY_SECONDS, elapsed, receiver=row.receiver)
        now = self.clock()
        decision = decide(
            result,
            receiver=row.receiver,
            attempt=row.attempts + 1,
            queued_at=row.created_at.timestamp(),
            now=now,
            policy=self.policy,
            rng=self.rng,
        )
        return decision, now

    async def _record(self, item: _Unrecorded) -> None:
        try:
            async with self._pool.acquire() as conn:
                kept = await _settle(conn, item)
        except Exception as exc:
            self._unrecorded.append(item)
            log.warning(
                "notify: %s row %d: outcome %s not recorded yet (%s); kept to write later",
                item.row.receiver,
                item.row.id,
                item.decision.outcome.value,
                type(exc).__name__,
            )
            return
        self._done(item, kept)

    async def _flush_unrecorded(self) -> None:
        while self._unrecorded:
            item = self._unrecorded[0]
            async with self._pool.acquire() as conn:
                kept = await _settle(conn, item)
            self._unrecorded.pop(0)
            self._done(item, kept)

    def _done(self, item: _Unrecorded, kept: bool) -> None:
        row, decision = item.row, item.decision
        self._unsent.pop(row.id, None)
        if not kept:
            log.warning(
                "notify: %s row %d: its lease ran out and another dispatcher took it over; "
                "outcome %s not written",
                row.receiver,
                row.id,
                decision.outcome.value,
            )
            return
        self._count(row.receiver, decision)
        attempt = row.attempts + 1
        if decision.outcome is Outcome.SENT:
            log.info("notify: %s row %d: sent (attempt %d)", row.receiver, row.id, attempt)
        elif decision.outcome is Outcome.RETRY:
            log.warning(
                "notify: %s row %d: retry (attempt %d%s, %s), next in %.1f s",
                row.receiver,
                row.id,
                attempt,
                "" if decision.counted else ", not counted",
                decision.reason.value,
                (decision.retry_at or item.now) - item.now,
            )
        else:
            log.error(
                "notify: %s row %d: failed (attempt %d, %s%s); see last_error",
                row.receiver,
                row.id,
                attempt,
                decision.reason.value,
                ", gave up" if decision.gave_up else "",
            )

    def _count(self, receiver: str, decision: Decision) -> None:
        self.stats.inc(
            "lookout_notifications_total", receiver=receiver, outcome=decision.outcome.value
        )


async def _settle(conn: Any, item: _Unrecorded) -> bool:
    """Write one outcome (fenced by the lease); False if the row was taken over meanwhile."""
    row, decision, end = item.row, item.decision, item.lease_end
    if decision.outcome is Outcome.SENT:
        return await outbox.mark_sent(conn, row.id, lease_end=end, now=_dt(item.now))
    if decision.outcome is Outcome.RETRY:
        assert decision.retry_at is not None
        return await outbox.mark_retry(
            conn,
            row.id,
            lease_end=end,
            retry_at=_dt(decision.retry_at),
            error=decision.error or "",
            counted=decision.counted,
        )
    return await outbox.mark_failed(conn, row.id, lease_end=end, error=decision.error or "")


def _secrets(receiver: Receiver) -> tuple[str, ...]:
    if receiver.slack is not None:
        return (receiver.slack.webhook_url.get_secret_value(),)
    if receiver.email is not None and receiver.email.password is not None:
        return (receiver.email.password.get_secret_value(),)
    return ()


async def run_dispatcher(
    dsn: str,
    receivers: Iterable[Receiver],
    *,
    stop: asyncio.Event | None = None,
    stats: Stats | None = None,
    **options: Any,
) -> None:
    """Run a dispatcher until ``stop`` is set (or SIGINT/SIGTERM when not given)."""
    with contextlib.ExitStack() as stack:
        if stop is None:
            stop = stack.enter_context(stop_on_signals(asyncio.Event()))
        dispatcher = Dispatcher(dsn, receivers, stats, **options)
        try:
            await dispatcher.start()
            await stop.wait()
        finally:
            await dispatcher.stop()
