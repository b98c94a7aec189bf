"""``lookout notify test RECEIVER``: send one ``kind: test`` message and say what happened.

The message goes straight to the receiver (no outbox, no worker needed) and the answer is
classified exactly as the dispatcher would (:func:`notifications.delivery.decide`), so "sent"
here means the dispatcher's sends will work too. ``--outbox`` queues the test message instead,
for a running worker to send (checks the whole path: outbox, dispatcher, receiver).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from app.settings import Settings
from notifications.delivery import (
    Decision,
    HttpResult,
    Outcome,
    Result,
    RetryPolicy,
    SmtpResult,
    decide,
)
from notifications.payload import build_test_payload
from notifications.receivers import Receiver
from sinks.notify.transport import Sender, Transport


@dataclass(frozen=True, slots=True)
class Probe:
    """What one test send did."""

    receiver: Receiver
    result: Result
    decision: Decision
    seconds: float

    @property
    def ok(self) -> bool:
        """True if the receiver accepted the message."""
        return self.decision.outcome is Outcome.SENT

    def describe(self) -> str:
        """One line for the terminal (no secrets)."""
        r = self.receiver
        if r.email is not None:
            target = f"email via {r.email.host}:{r.email.effective_port} to {', '.join(r.email.to)}"
        else:
            channel = r.slack.channel if r.slack is not None else None
            target = f"slack webhook, {channel}" if channel else "slack webhook"
        answer = ""
        if isinstance(self.result, HttpResult):
            answer = f", HTTP {self.result.status}"
        elif isinstance(self.result, SmtpResult):
            answer = f", SMTP {self.result.code}"
        head = f"{r.name} ({target})"
        if self.ok:
            return f"{head}: sent in {self.seconds:.2f} s{answer}"
        kind = "temporary failure" if self.decision.outcome is Outcome.RETRY else "failed"
        retry = "; the dispatcher would retry it" if kind == "temporary failure" else ""
        return f"{head}: {kind}: {self.decision.error}{retry}"


async def send_test(
    receiver: Receiver,
    *,
    live_url: str | None = None,
    grafana_url: str | None = None,
    clock: Callable[[], float] = time.time,
    transport: Sender | None = None,
) -> Probe:
    """Send a test message to ``receiver`` now; the classified answer."""
    own = transport is None
    sender: Sender = transport or Transport()
    started = clock()
    payload = build_test_payload(receiver.name, started, live_url=live_url, grafana_url=grafana_url)
    key = f"test:{receiver.name}:{int(started * 1000)}"
    try:
        await sender.setup()
        result = await sender.send(receiver, payload, key, started)
    finally:
        if own:
            await sender.close()
    now = clock()
    decision = decide(
        result,
        receiver=receiver.name,
        attempt=1,
        queued_at=started,
        now=now,
        policy=RetryPolicy(),
        rng=lambda: 0.0,
    )
    return Probe(receiver, result, decision, now - started)


def notify_test_command(
    settings: Settings,
    name: str,
    *,
    file: Path | None = None,
    via_outbox: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``lookout notify test``; the exit code (0 sent or queued, 1 failed, 2 usage)."""
    from notifications.config import load_notify_config

    out = out or sys.stdout
    err = err or sys.stderr
    path = file or settings.notify_file
    if path is None:
        print(
            "lookout notify test: no notify file: set LOOKOUT_NOTIFY_FILE (example: "
            "notify/notify.yaml) or pass --file PATH",
            file=err,
        )
        return 2
    config = load_notify_config(path)  # NotifyConfigError (a ConfigError) names file and place
    receiver = config.receiver(name)
    if receiver is None:
        known = ", ".join(r.name for r in config.receivers) or "none"
        print(f"lookout notify test: no receiver {name!r} in {path} (receivers: {known})", file=err)
        return 2
    defaults = config.defaults
    if via_outbox:
        return asyncio.run(
            _enqueue(settings, receiver, defaults.live_url, defaults.grafana_url, out)
        )
    probe = asyncio.run(
        send_test(receiver, live_url=defaults.live_url, grafana_url=defaults.grafana_url)
    )
    if probe.ok:
        print(f"notify test: {probe.describe()}", file=out)
        return 0
    print(f"lookout notify test: {probe.describe()}", file=err)
    return 1


async def _enqueue(
    settings: Settings,
    receiver: Receiver,
    live_url: str | None,
    grafana_url: str | None,
    out: TextIO,
) -> int:
    from app.services import resolve_services
    from sinks.migrations import connect
    from sinks.notify.outbox import enqueue_test

    services = resolve_services(settings)
    conn = await connect(services.postgres_dsn, "notify-test")  # MigrationError says what to fix
    try:
        row = await enqueue_test(
            conn, receiver.name, now=datetime.now(UTC), live_url=live_url, grafana_url=grafana_url
        )
    finally:
        await conn.close()
    print(
        f"notify test: queued outbox row {row.id} for {receiver.name}; a running worker sends "
        "it within seconds (see GET /api/notifications or the worker log)",
        file=out,
    )
    return 0
