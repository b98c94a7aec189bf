"""Real local receivers for notification tests: a scriptable webhook and an SMTP server.

Use the fixtures by re-exporting them in a test module (pytest finds fixtures by module name)::

    from tests.integration import notify_servers
    from tests.integration.notify_servers import Reply

    webhook = notify_servers.webhook            # an aiohttp server on 127.0.0.1, per test
    smtp_server = notify_servers.smtp_server    # an aiosmtpd server on 127.0.0.1, per test

    async def test_something(webhook, smtp_server):
        webhook.script(500, Reply(429, retry_after="1"), 200)   # answers, in order
        url = webhook.url              # http://127.0.0.1:PORT/hook (any path is accepted)
        ...
        await webhook.wait_for(3)      # at least 3 requests arrived (timeout: AssertionError)
        webhook.requests[0].json       # every request: .at (time.time()), .path, .headers,
        webhook.keys()                 #   .body, .json; idempotency keys in arrival order
        await smtp_server.wait_for(1)
        mail = smtp_server.messages[0].message   # an email.message.EmailMessage
        smtp_server.messages[0].rcpt_tos, .mail_from, .at, .login

**Webhook.** ``script(*replies, path=None)`` queues answers (an ``int`` status or a
:class:`Reply` with ``status``, ``body``, ``retry_after`` and ``delay`` seconds before
answering); with ``path`` the queue applies only to that path (``url_for(path)`` builds the URL),
else to every path. After the queue, ``default`` answers (``Reply(200, "ok")``, like Slack).

**SMTP.** ``SmtpServer(auth={"user": "password"})`` offers AUTH PLAIN/LOGIN (no TLS needed),
refuses other credentials with 535 and records who logged in (``ReceivedMail.login``);
``tls="starttls"`` or ``tls="tls"`` with ``cert=(certfile, keyfile)`` (see
:func:`self_signed_cert`) serves STARTTLS or implicit TLS. ``reply_with("451 4.3.0 busy")``
queues answers to DATA (the message is not kept then); after the queue, ``250 OK``. Use it as a
context manager, or the ``smtp_server`` fixture (plain, no auth).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """One scripted webhook answer."""

    status: int = 200
    body: str = "ok"
    retry_after: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class WebhookRequest:
    """One request the webhook received (``at`` is ``time.time()`` at arrival)."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what it was answered

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)

    @property
    def key(self) -> str | None:
        """The ``X-Lookout-Idempotency-Key`` header."""
        return self.headers.get("X-Lookout-Idempotency-Key")


class WebhookServer:
    """An aiohttp server answering POSTs as scripted and recording every request."""

    def __init__(self) -> None:
        self.default = Reply(200, "ok")
        self.requests: list[WebhookRequest] = []
        self._queues: dict[str | None, deque[Reply]] = {None: deque()}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The webhook URL (path ``/hook``)."""
        return self.url_for("/hook")

    def url_for(self, path: str) -> str:
        """A URL on this server with ``path``."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def script(self, *replies: int | Reply, path: str | None = None) -> None:
        """Queue answers (for ``path`` only, or for every path)."""
        queue = self._queues.setdefault(None if path is None else "/" + path.lstrip("/"), deque())
        queue.extend(r if isinstance(r, Reply) else Reply(r, "ok" if r < 300 else f"error {r}")
                     for r in replies)  # fmt: skip

    def keys(self) -> list[str | None]:
        """Idempotency keys of the requests, in arrival order."""
        return [r.key for r in self.requests]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[WebhookRequest]:
        """Wait until at least ``count`` requests arrived."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"webhook: {len(self.requests)} requests after {timeout} s, expected {count}"
                )
            await asyncio.sleep(0.01)
        return self.requests

    def _next(self, path: str) -> Reply:
        for key in (path, None):
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
        return self.default

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.time()
        body = await request.read()
        reply = self._next(request.path)
        self.requests.append(
            WebhookRequest(at, request.path, dict(request.headers), body, reply.status)
        )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
        return web.Response(status=reply.status, text=reply.body, headers=headers)

    async def start(self) -> WebhookServer:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop listening (requests in flight are cut)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ------------------------------------------------------------------ SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    at: float
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class _Handler:
    server: SmtpServer

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        return self.server._data(session, envelope)


@dataclass
class _Auth:
    users: dict[str, str]
    logins: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl); (certfile, keyfile)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class SmtpServer:
    """An aiosmtpd server (own thread) recording messages; optional auth and TLS."""

    def __init__(
        self,
        *,
        auth: dict[str, str] | None = None,
        tls: str | None = None,
        cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self.refused: list[str] = []
        self._replies: deque[str] = deque()
        self._lock = threading.Lock()
        self._auth = _Auth(auth) if auth else None
        self._tls, self._cert = tls, cert
        self._controller: Any = None

    def reply_with(self, *replies: str) -> None:
        """Queue answers to DATA, e.g. ``"451 4.3.0 try again later"``; then 250."""
        with self._lock:
            self._replies.extend(replies)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages were accepted."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"smtp: {len(self.messages)} messages after {timeout} s, expected {count}"
                )
            await asyncio.sleep(0.01)
        return self.messages

    def _data(self, session: Any, envelope: Any) -> str:
        with self._lock:
            reply = self._replies.popleft() if self._replies else None
        if reply is not None:
            self.refused.append(reply)
            return reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = getattr(session, "auth_data", None)
        self.messages.append(
            ReceivedMail(time.time(), envelope.mail_from, list(envelope.rcpt_tos), message, login)
        )
        return "250 OK"

    def _context(self) -> ssl.SSLContext:
        assert self._cert is not None, "tls needs cert=(certfile, keyfile)"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._cert[0]), str(self._cert[1]))
        return context

    def start(self) -> SmtpServer:
        """Start serving (in a thread)."""
        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {"auth_require_tls": False}
        if self._auth is not None:
            kwargs["authenticator"] = self._auth  # optional AUTH: check ReceivedMail.login
        if self._tls == "starttls":
            kwargs["tls_context"] = self._context()
        elif self._tls == "tls":
            kwargs["ssl_context"] = self._context()
        self._controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10.0, **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookServer]:
    """A scriptable webhook receiver on 127.0.0.1 for one test."""
    async with WebhookServer() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no auth, no TLS) on 127.0.0.1 for one test."""
    with SmtpServer() as server:
        yield server
