"""One send of one payload to one receiver: render (pure), then write (the only network step).

A :class:`Transport` owns the process's one aiohttp session (created in :meth:`Transport.setup`,
closed in :meth:`Transport.close`) for Slack webhooks; email opens one SMTP connection per message.
It returns a :data:`~notifications.delivery.Result` and never raises for I/O, so the dispatcher and
``lookout notify test`` classify every answer the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from notifications.delivery import NotSent, Result
from notifications.payload import PayloadError
from notifications.receivers import Receiver
from sinks.notify import email, slack

USER_AGENT = "lookout-notify/1"


class Sender(Protocol):
    """What the dispatcher needs to send (a :class:`Transport`, or a fake in tests)."""

    async def setup(self) -> None:
        """Open clients."""

    async def close(self) -> None:
        """Close clients."""

    async def send(self, receiver: Receiver, payload: Any, key: str, now: float) -> Result:
        """Send one payload; the receiver's answer."""


class Transport:
    """Sends rendered payloads to Slack (one shared HTTP session) or SMTP."""

    def __init__(self) -> None:
        self._session: Any = None

    async def setup(self) -> None:
        """Open the HTTP session (call once, before the first send)."""
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    async def close(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, receiver: Receiver, payload: Any, key: str, now: float) -> Result:
        """Render ``payload`` for ``receiver`` at ``now`` and send it; the receiver's answer."""
        try:
            if receiver.slack is not None:
                body = slack.render(payload, now, channel=receiver.slack.channel)
            else:
                assert receiver.email is not None
                mail = email.render(payload, receiver.email, key, now)
        except PayloadError as exc:
            return NotSent("bad_payload", str(exc))
        if receiver.slack is not None:
            await self.setup()
            return await slack.post(self._session, receiver.slack, body, key)
        assert receiver.email is not None
        return await email.send(receiver.email, mail)
