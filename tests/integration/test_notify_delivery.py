"""Notification delivery against the real local Postgres, a webhook and an SMTP server.

Rows are inserted as the grouping side writes them (``pending``, due now); dispatchers run with
short backoff settings; assertions read what the receivers got and what the outbox rows say.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import pytest

from app.backoff import Backoff
from app.stats import Stats
from notifications.delivery import RetryPolicy
from notifications.payload import build_test_payload
from notifications.receivers import Receiver
from sinks.migrations import migrate
from sinks.notify import outbox
from sinks.notify.dispatcher import Dispatcher
from sinks.notify.email import message_id
from tests.integration import notify_servers
from tests.integration.notify_servers import (
    Reply,
    SmtpServer,
    WebhookServer,
    free_port,
    self_signed_cert,
)
from tests.unit.notify.samples import alert, payload

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

webhook = notify_servers.webhook
smtp_server = notify_servers.smtp_server

ROOT = Path(__file__).resolve().parents[2]
POLICY = RetryPolicy(base=0.2, cap=2.0, max_attempts=5, max_age=120.0)
# Lower bounds (backoff, Retry-After, rate) are exact; upper bounds allow this much scheduling
# latency (2 shared cores while other suites run).
SLACK = 0.5
FAST: dict[str, Any] = {
    "poll": 0.05,
    "lease_margin": 2.0,
    "policy": POLICY,
    "db_backoff": Backoff(base=0.05, cap=0.3),
    "grace": 2.0,
}


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def notify_db(pg_dsn: str) -> Iterator[str]:
    """A migrated database of its own, for this module."""
    name = f"lookout_notify_{uuid.uuid4().hex[:8]}"
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))

    async def create() -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate(dsn, progress=lambda line: None)

    async def drop() -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield dsn
    asyncio.run(drop())


@pytest.fixture
async def db(notify_db: str) -> str:
    """The module's database with an empty outbox."""
    await sql(notify_db, "TRUNCATE notifications")
    return notify_db


async def sql(dsn: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def insert(dsn: str, receiver: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Pending rows due now, as the grouping side writes them; their idempotency keys."""
    keys = [f"{receiver}:{uuid.uuid4().hex}" for _ in bodies]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO notifications (idempotency_key, group_key, transition_id, receiver, "
            "status, next_attempt_at, payload) VALUES ($1, $2, $3, $4, 'pending', now(), "
            "$5::jsonb) ON CONFLICT (idempotency_key) DO NOTHING",
            [
                (key, body["group_key"], f"t{i}", receiver, orjson.dumps(body).decode())
                for i, (key, body) in enumerate(zip(keys, bodies, strict=True))
            ],
        )
    finally:
        await conn.close()
    return keys


def groups(count: int) -> list[dict[str, Any]]:
    """One message in each of ``count`` groups (a group's own messages go one at a time)."""
    return [
        {**payload(), "group_key": f"ops-slack|rule=nginx_5xx_error_rate,host=web-{i}"}
        for i in range(count)
    ]


async def rows(dsn: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await sql(dsn, "SELECT * FROM notifications ORDER BY id")]


async def wait_rows(
    dsn: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Poll the outbox until ``done(rows)``."""
    deadline = time.monotonic() + timeout
    while True:
        current = await rows(dsn)
        if done(current):
            return current
        if time.monotonic() > deadline:
            states = Counter(r["status"] for r in current)
            raise AssertionError(f"outbox not settled after {timeout} s: {dict(states)}")
        await asyncio.sleep(0.05)


def settled(current: list[dict[str, Any]]) -> bool:
    return bool(current) and all(r["status"] != "pending" for r in current)


def slack_receiver(name: str, url: str, **fields: Any) -> Receiver:
    data = {"name": name, "slack": {"webhook_url": "${URL}", "rate": 1000, "burst": 1000,
                                    "timeout": "3s", **fields}}  # fmt: skip
    return Receiver.model_validate(data, context={"environ": {"URL": url}})


def email_receiver(name: str, server: SmtpServer, **fields: Any) -> Receiver:
    data = {"name": name, "email": {"host": server.host, "port": server.port, "security": "none",
            "from": "lookout@example.com", "to": ["oncall@example.com"], "rate": 1000,
            "burst": 1000, "timeout": "3s", **fields}}  # fmt: skip
    return Receiver.model_validate(data, context={"environ": {"PW": "s3cret"}})


@contextlib.asynccontextmanager
async def running(dsn: str, *receivers: Receiver, **options: Any) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(dsn, receivers, Stats(), **{**FAST, **options})
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``check`` (sync or async) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def dispatch_passes(dispatcher: Dispatcher, more: int) -> None:
    """Wait for ``more`` dispatcher passes; the last began after this call."""
    name = "lookout_notify_dispatch_passes_total"
    want = dispatcher.stats.get(name) + more
    await eventually(lambda: dispatcher.stats.get(name) >= want)


# ------------------------------------------------------------------ email


async def test_email_arrives_with_headers_and_both_parts(db: str, smtp_server: SmtpServer) -> None:
    body = payload(alert(summary="shop <b>5xx</b> on web-1", acknowledged=True),
                   receiver="ops-email")  # fmt: skip
    [key] = await insert(db, "ops-email", [body])
    async with running(db, email_receiver("ops-email", smtp_server)):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert row["sent_at"] is not None and row["next_attempt_at"] is None

    [received] = smtp_server.messages
    mail = received.message
    assert received.mail_from == "lookout@example.com"
    assert received.rcpt_tos == ["oncall@example.com"]
    assert mail["Subject"] == "[FIRING:1] nginx_5xx_error_rate on web-1 (critical)"
    assert (mail["From"], mail["To"]) == ("lookout@example.com", "oncall@example.com")
    assert mail["Message-ID"] == message_id(key, "lookout@example.com")
    assert mail["X-Lookout-Idempotency-Key"] == key
    assert mail["X-Lookout-Group"] == body["group_key"]
    assert mail["Date"]
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    plain_text, html_text = plain.get_content(), html.get_content()  # type: ignore[attr-defined]
    assert "[CRITICAL] shop <b>5xx</b> on web-1" in plain_text
    assert "status:  acknowledged" in plain_text
    assert "shop &lt;b&gt;5xx&lt;/b&gt; on web-1" in html_text and "<b>5xx</b>" not in html_text
    assert 'href="http://localhost:6066/"' in html_text


async def test_smtp_login_temporary_and_permanent_replies(db: str) -> None:
    with SmtpServer(auth={"lookout": "s3cret"}) as server:
        server.reply_with("451 4.3.0 mailbox busy, try later")
        good = email_receiver("mail-auth", server, username="lookout", password="${PW}")
        await insert(db, "mail-auth", [payload(receiver="mail-auth")])
        async with running(db, good):
            [row] = await wait_rows(db, settled)
        assert (row["status"], row["attempts"]) == ("sent", 2)  # 451 retried, then 250
        assert server.refused == ["451 4.3.0 mailbox busy, try later"]
        assert [m.login for m in server.messages] == ["lookout"]

        await sql(db, "TRUNCATE notifications")
        server.reply_with("550 5.1.1 no such mailbox")
        await insert(db, "mail-auth", [payload(receiver="mail-auth")])
        async with running(db, good):
            [row] = await wait_rows(db, settled)
        assert (row["status"], row["attempts"]) == ("failed", 1)
        assert row["last_error"] == "mail-auth: SMTP 550: 5.1.1 no such mailbox"


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_over_starttls_and_implicit_tls(db: str, tmp_path: Path, security: str) -> None:
    cert, key = self_signed_cert(tmp_path)
    with SmtpServer(tls=security, cert=(cert, key), auth={"lookout": "s3cret"}) as server:
        receiver = email_receiver("mail-tls", server, security=security, ca_file=str(cert),
                                  username="lookout", password="${PW}")  # fmt: skip
        await insert(db, "mail-tls", [payload(receiver="mail-tls")])
        async with running(db, receiver):
            [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert [m.login for m in server.messages] == ["lookout"]


async def test_email_without_the_servers_ca_is_retried_not_sent(db: str, tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    with SmtpServer(tls="tls", cert=(cert, key)) as server:
        receiver = email_receiver("mail-tls", server, security="tls")  # system CAs only
        await insert(db, "mail-tls", [payload(receiver="mail-tls")])
        policy = RetryPolicy(base=0.05, cap=0.1, max_attempts=2, max_age=60)
        async with running(db, receiver, policy=policy):
            [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["last_error"].startswith("mail-tls: connection: SMTPConnectError")
    assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
    assert server.messages == []


# ------------------------------------------------------------------ webhook outcomes


async def test_webhook_gets_the_message_and_the_idempotency_key(
    db: str, webhook: WebhookServer
) -> None:
    [key] = await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url, channel="#ops")):
        [row] = await wait_rows(db, settled)
    assert row["status"] == "sent"
    [request] = webhook.requests
    assert request.key == key
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json
    assert body["channel"] == "#ops"
    assert body["text"].startswith("🔥 FIRING [1] nginx_5xx_error_rate — web-1")
    assert body["attachments"][0]["blocks"][0]["type"] == "header"


def gaps(requests: list[notify_servers.WebhookRequest]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(requests)]


async def test_500_retries_with_growing_backoff(db: str, webhook: WebhookServer) -> None:
    # rng = 1: the top of the jitter range, so the delays are the ceilings 0.2, 0.4, 0.8
    webhook.script(500, 500, 500, 200)
    await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url), rng=lambda: 1.0):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 4, None)
    observed = gaps(webhook.requests)
    for gap, ceiling in zip(observed, [0.2, 0.4, 0.8], strict=True):
        assert ceiling <= gap <= ceiling + SLACK, observed


async def test_500_jitter_stays_within_bounds(db: str, webhook: WebhookServer) -> None:
    source = random.Random(7)
    draws: list[float] = []

    def rng() -> float:
        draws.append(source.random())
        return draws[-1]

    webhook.script(500, 503, 502, 500, 200)
    await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url), rng=rng):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("sent", 5)
    observed = gaps(webhook.requests)
    assert len(draws) == 4
    for n, (gap, draw) in enumerate(zip(observed, draws, strict=True), start=1):
        ceiling = POLICY.ceiling(n)
        assert draw * ceiling <= gap <= draw * ceiling + SLACK, (n, gap, draw)
        assert 0 <= draw * ceiling <= ceiling


async def test_429_waits_for_retry_after_seconds(db: str, webhook: WebhookServer) -> None:
    webhook.script(Reply(429, "rate_limited", retry_after="1"), 200)
    await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url), rng=lambda: 0.0):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("sent", 1)  # the 429 was no attempt
    first, second = webhook.requests
    assert 1.0 <= second.at - first.at <= 1.0 + SLACK


async def test_429_with_retry_after_is_not_an_attempt(db: str, webhook: WebhookServer) -> None:
    # Slack throttling a storm: three 429s, more than max_attempts (2) allows, then accepted
    webhook.script(*[Reply(429, "rate_limited", retry_after="0")] * 3, 200)
    await insert(db, "ops-slack", [payload()])
    policy = RetryPolicy(base=0.05, cap=0.1, max_attempts=2, max_age=60)
    async with running(db, slack_receiver("ops-slack", webhook.url), policy=policy):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert [r.status for r in webhook.requests] == [429, 429, 429, 200]


async def test_a_groups_messages_arrive_in_order_after_a_failure(
    db: str, webhook: WebhookServer
) -> None:
    # g1's first message fails once (500); g1's second must wait for it, g2 need not
    webhook.script(500)
    g1 = payload()
    g2 = {**payload(), "group_key": "ops-slack|rule=nginx_5xx_error_rate,host=web-2"}
    first, second, other = await insert(db, "ops-slack", [g1, g1, g2])
    async with running(db, slack_receiver("ops-slack", webhook.url), rng=lambda: 1.0):
        current = await wait_rows(db, settled)
    assert all(r["status"] == "sent" for r in current)
    assert [(r.key, r.status) for r in webhook.requests] == [
        (first, 500),
        (other, 200),
        (first, 200),
        (second, 200),
    ]


async def test_429_waits_for_a_retry_after_date(db: str, webhook: WebhookServer) -> None:
    when = datetime.fromtimestamp(int(time.time()) + 2, UTC)
    webhook.script(Reply(429, "slow down", retry_after=format_datetime(when, usegmt=True)), 200)
    await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url), rng=lambda: 0.0):
        await wait_rows(db, settled)
    _, second = webhook.requests
    assert when.timestamp() <= second.at <= when.timestamp() + SLACK


async def test_400_fails_at_once_naming_the_receiver(db: str, webhook: WebhookServer) -> None:
    webhook.script(Reply(400, "invalid_payload"))
    await insert(db, "ops-slack", [payload()])
    async with running(db, slack_receiver("ops-slack", webhook.url)) as dispatcher:
        [row] = await wait_rows(db, settled)
        # no retry can come: the row is failed with no next attempt (only due pending rows are
        # claimed), and passes after it sent nothing more
        assert row["next_attempt_at"] is None
        await dispatch_passes(dispatcher, 2)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "ops-slack: HTTP 400: invalid_payload"
    assert len(webhook.requests) == 1
    stats = dispatcher.stats
    assert stats.get("lookout_notifications_total", receiver="ops-slack", outcome="failed") == 1


async def test_gives_up_after_max_attempts(db: str, webhook: WebhookServer) -> None:
    webhook.default = Reply(503, "upstream down")
    await insert(db, "ops-slack", [payload()])
    policy = RetryPolicy(base=0.05, cap=0.1, max_attempts=3, max_age=60)
    async with running(db, slack_receiver("ops-slack", webhook.url), policy=policy) as dispatcher:
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "ops-slack: HTTP 503: upstream down (gave up after 3 attempts)"
    assert len(webhook.requests) == 3
    counts = {o: dispatcher.stats.get("lookout_notifications_total", receiver="ops-slack",
                                      outcome=o) for o in ("retry", "failed")}  # fmt: skip
    assert counts == {"retry": 2, "failed": 1}


async def test_unreachable_webhook_retries_then_fails(db: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/SECRETPATH"
    await insert(db, "ops-slack", [payload()])
    policy = RetryPolicy(base=0.05, cap=0.1, max_attempts=2, max_age=60)
    async with running(db, slack_receiver("ops-slack", url), policy=policy):
        [row] = await wait_rows(db, settled)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["last_error"].startswith("ops-slack: connection: ClientConnectorError")
    assert "SECRETPATH" not in row["last_error"]


async def test_unknown_receiver_and_bad_payload(db: str, webhook: WebhookServer) -> None:
    await insert(db, "gone", [payload(receiver="gone")])
    await insert(db, "ops-slack", [{**payload(), "kind": "bogus"}])
    policy = RetryPolicy(base=0.05, cap=0.1, max_attempts=2, max_age=60)
    async with running(db, slack_receiver("ops-slack", webhook.url), policy=policy):
        current = await wait_rows(db, settled)
    by_receiver = {r["receiver"]: r for r in current}
    gone, bad = by_receiver["gone"], by_receiver["ops-slack"]
    assert (gone["status"], gone["attempts"]) == ("failed", 2)
    assert "receiver 'gone' is not in the notify config" in gone["last_error"]
    assert (bad["status"], bad["attempts"]) == ("failed", 1)
    assert bad["last_error"].startswith("ops-slack: payload: kind 'bogus'")
    assert webhook.requests == []


# ------------------------------------------------------------------ rate limit


async def test_rate_limit_sends_no_faster_than_rate_with_burst(
    db: str, webhook: WebhookServer
) -> None:
    rate, burst, count = 10.0, 5, 30
    await insert(db, "ops-slack", groups(count))
    receiver = slack_receiver("ops-slack", webhook.url, rate=rate, burst=burst)
    started = time.time()
    async with running(db, receiver) as dispatcher:
        current = await wait_rows(db, settled, timeout=20)
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in current)  # no lost attempt
    arrivals = [r.at for r in webhook.requests]
    assert len(arrivals) == count
    # k+1 messages need k+1 tokens: `burst` at the start, then one per 1/rate seconds
    for k, at in enumerate(arrivals):
        earliest = started + max(0.0, (k + 1 - burst) / rate)
        assert at >= earliest - 0.02, (k, at - started)
    # ... and the backlog drains at about that rate, not much slower
    assert arrivals[-1] - started <= (count - burst) / rate + 4 * SLACK
    postponed = dispatcher.stats.get(
        "lookout_notifications_total", receiver="ops-slack", outcome="postponed"
    )
    assert postponed >= count - burst


# ------------------------------------------------------------------ concurrency and restarts


async def test_two_dispatchers_never_send_a_row_twice(db: str, webhook: WebhookServer) -> None:
    webhook.default = Reply(200, "ok", delay=0.01)
    receiver = slack_receiver("ops-slack", webhook.url)
    keys = await insert(db, "ops-slack", groups(60))
    async with running(db, receiver, batch=4) as a, running(db, receiver, batch=4) as b:
        current = await wait_rows(db, settled, timeout=30)
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in current)
    received = Counter(webhook.keys())
    assert received == Counter(keys)  # every row exactly once
    sent = [d.stats.get("lookout_notifications_total", receiver="ops-slack", outcome="sent")
            for d in (a, b)]  # fmt: skip
    assert sum(sent) == 60 and min(sent) > 0, sent


DISPATCHER_SCRIPT = """
import asyncio, sys
from notifications.delivery import RetryPolicy
from sinks.notify.dispatcher import run_dispatcher
from notifications.receivers import Receiver

dsn, url = sys.argv[1], sys.argv[2]
receiver = Receiver.model_validate(
    {"name": "ops-slack", "slack": {"webhook_url": "${URL}", "rate": 1000, "burst": 1000,
                                    "timeout": "0.5s"}},
    context={"environ": {"URL": url}},
)
print("ready", flush=True)
asyncio.run(run_dispatcher(dsn, [receiver], batch=3, poll=0.05, lease_margin=0.2,
                           policy=RetryPolicy(base=0.2, cap=1.0)))
"""


async def test_killed_dispatcher_never_resends_sent_rows_and_resumes_pending(
    db: str, webhook: WebhookServer, tmp_path: Path
) -> None:
    # requests 1-5 are answered at once; the 6th hangs: the process is killed (-9) meanwhile
    webhook.script(*[200] * 5, Reply(200, "ok", delay=2.0))
    keys = await insert(db, "ops-slack", [payload() for _ in range(12)])
    script = tmp_path / "dispatcher.py"
    script.write_text(DISPATCHER_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), db, webhook.url], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        await webhook.wait_for(6, timeout=20)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        assert process.stdout is not None
        process.stdout.close()
    before = await rows(db)
    sent_before = {r["idempotency_key"] for r in before if r["status"] == "sent"}
    assert len(sent_before) == 5
    assert all(r["status"] == "pending" for r in before if r["idempotency_key"] not in sent_before)
    in_flight = webhook.requests[5].key

    async with running(db, slack_receiver("ops-slack", webhook.url)):
        after = await wait_rows(db, settled, timeout=20)
    assert all(r["status"] == "sent" for r in after)
    received = Counter(webhook.keys())
    assert set(received) == set(keys)
    assert all(received[key] == 1 for key in sent_before)  # never sent again
    # the row in flight at the kill had no answer: sent again, with the same idempotency key
    assert received[in_flight] == 2
    assert all(received[key] == 1 for key in keys if key != in_flight)


async def test_stop_hands_back_rows_it_did_not_send(db: str, webhook: WebhookServer) -> None:
    webhook.default = Reply(200, "ok", delay=0.3)
    await insert(db, "ops-slack", [payload() for _ in range(6)])
    async with running(db, slack_receiver("ops-slack", webhook.url), lease_margin=60.0):
        await webhook.wait_for(1)
    # stop waited for the send in flight, then made the unsent rows due again (no 60 s lease)
    current = await rows(db)
    sent = [r for r in current if r["status"] == "sent"]
    pending = [r for r in current if r["status"] == "pending"]
    assert len(sent) == len(webhook.requests) >= 1
    assert len(sent) + len(pending) == 6
    assert all(r["attempts"] == 0 for r in pending)
    assert all(r["next_attempt_at"] <= datetime.now(UTC) for r in pending)


class Forwarder:
    """A TCP relay to Postgres that can be opened late (Postgres 'comes back')."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.tasks.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_postgres_down_backs_off_and_recovers(db: str, webhook: WebhookServer) -> None:
    url = urlsplit(db)
    port = free_port()
    down_dsn = urlunsplit(url._replace(netloc=url.netloc.replace(f":{url.port}", f":{port}")))
    await insert(db, "ops-slack", [payload()])
    relay = Forwarder(port, (url.hostname or "127.0.0.1", url.port or 5432))
    async with running(down_dsn, slack_receiver("ops-slack", webhook.url)) as dispatcher:
        await eventually(lambda: dispatcher.stats.get("lookout_notify_outbox_errors_total") >= 3)
        assert dispatcher._loop_task is not None and not dispatcher._loop_task.done()
        assert dispatcher.stats.get("lookout_notify_up") == 0.0
        assert webhook.requests == []
        await relay.start()  # Postgres is back
        try:
            [row] = await wait_rows(db, settled)
            assert row["status"] == "sent"
            assert dispatcher.stats.get("lookout_notify_up") == 1.0
        finally:
            await dispatcher.stop()  # closes its connections before the relay goes
            await relay.stop()
    assert len(webhook.requests) == 1


# ------------------------------------------------------------------ outbox API


async def test_enqueue_test_and_list_rows(db: str, webhook: WebhookServer) -> None:
    conn = await asyncpg.connect(db)
    try:
        row = await outbox.enqueue_test(conn, "ops-slack", now=datetime.now(UTC),
                                        live_url="http://localhost:6066/")  # fmt: skip
        assert (row.status, row.receiver, row.payload["kind"]) == ("pending", "ops-slack", "test")
        await insert(db, "other", [payload(receiver="other")])
        async with running(db, slack_receiver("ops-slack", webhook.url)):
            await eventually(lambda: _sent(db, row.id))
        listed = await outbox.list_rows(conn, status="sent")
        assert [r.id for r in listed] == [row.id]
        assert listed[0].to_json(payload=False)["status"] == "sent"
        assert "payload" not in listed[0].to_json(payload=False)
        assert [r.receiver for r in await outbox.list_rows(conn, receiver="other")] == ["other"]
        assert len(await outbox.list_rows(conn, limit=1)) == 1
        with pytest.raises(ValueError, match="status: expected one of"):
            await outbox.list_rows(conn, status="nope")
    finally:
        await conn.close()
    assert webhook.requests[0].json["text"].startswith("🧪 TEST Lookout → ops-slack")
    assert build_test_payload("x", 0.0)["kind"] == "test"


async def _sent(dsn: str, row_id: int) -> bool:
    found = await sql(dsn, "SELECT status FROM notifications WHERE id = $1", row_id)
    return bool(found) and found[0]["status"] == "sent"
