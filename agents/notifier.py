"""Notifications as one service in the worker: notifier (grouping) plus dispatcher (delivery).

``LOOKOUT_NOTIFY_FILE`` names the notify file (loaded and checked before the worker starts: a bad
file stops it with a message naming the setting, the place and the fix); ``LOOKOUT_NOTIFY``
turns the service off. Parts, each with its own lifetime inside the Faust worker:

* the writer: ``lookout.alerts`` -> Postgres group state, as the consumer group
  ``{app_id}-sink-notify`` (:class:`~sinks.runner.SinkRunner`: offsets committed after the write);
* the silence reader: follows ``lookout.silences`` so silences are judged when a group flushes;
* the flusher: due groups -> outbox rows (``notifications``);
* the dispatcher (sinks/notify/dispatcher.py): outbox rows -> Slack and email.

With several workers each consumes its share of ``lookout.alerts``; groups live in Postgres, so
a group spanning hosts of different workers is still one group, flushed by one worker at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from agents.silences import SilenceReader
from app.backoff import Backoff
from app.settings import Settings
from app.stats import Stats
from app.topics import TopicNames
from notifications.config import NotifyConfig, from_settings
from sinks.consumer import consumer_factory, group_id
from sinks.deadletter import DeadLetters
from sinks.notify.notifier import HELP, Flusher, NotifyWriter, silences_of
from sinks.notify.store import NotifyStore
from sinks.runner import SinkRunner

log = logging.getLogger(__name__)

SILENCES_WAIT = 10.0  # seconds the first flush waits for the silences topic to be read


class Notifier:
    """Starts and stops the notifier's parts (and the dispatcher, unless told not to)."""

    def __init__(
        self,
        settings: Settings,
        config: NotifyConfig,
        *,
        bootstrap_servers: str,
        dsn: str,
        stats: Stats | None = None,
        clock: Callable[[], float] = time.time,
        dispatch: bool = True,
        poll: float = 1.0,
    ) -> None:
        self.settings = settings
        self.config = config
        self.bootstrap = bootstrap_servers
        self.dsn = dsn
        self.stats = stats if stats is not None else Stats()
        self.clock = clock
        self.dispatch = dispatch
        self.topics = TopicNames.from_settings(settings)
        self.stats.help.update(HELP)
        self.store = NotifyStore(
            dsn, config.policy, defaults=config.defaults, timeout=settings.sink_timeout
        )
        self.reader = SilenceReader(bootstrap_servers, self.topics.silences, lambda _s: None)
        self.flusher = Flusher(
            NotifyStore(
                dsn, config.policy, defaults=config.defaults, timeout=settings.sink_timeout
            ),
            self.stats,
            silences=silences_of(self.reader),
            clock=clock,
            poll=poll,
        )
        self.writer = NotifyWriter(
            self.store, self.topics.alerts, self.stats, clock=clock, on_written=self.flusher.wake
        )
        self.runner: SinkRunner[Any] | None = None
        self.dispatcher: Any = None
        self.dead_letters: DeadLetters | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        """Start every part (Postgres or the broker being down is retried, never fatal)."""
        settings = self.settings
        self.dead_letters = DeadLetters(self.bootstrap, self.topics.deadletter, clock=self.clock)
        await self.dead_letters.start()
        self._tasks.append(asyncio.create_task(self.reader.run(), name="lookout-notify-silences"))
        await self.flusher.store.setup()
        self.runner = SinkRunner(
            self.writer,
            consumer_factory(settings, self.bootstrap, NotifyWriter.name),
            dead_letters=self.dead_letters,
            stats=self.stats,
            batch_max=settings.sink_batch_max,
            batch_bytes=settings.sink_batch_bytes,
            linger=min(settings.sink_linger, 0.25),
            backoff=Backoff(cap=settings.sink_retry_max),
            wall=self.clock,
        )
        await self.runner.start()
        self._tasks.append(asyncio.create_task(self._start_flusher(), name="lookout-notify-wait"))
        if self.dispatch:
            self.dispatcher = self.new_dispatcher()
            await self.dispatcher.start()
            self.flusher.on_pending = self.dispatcher.nudge
        log.info(
            "notify: started (group %s, file %s, receivers %s)",
            group_id(settings, NotifyWriter.name),
            self.config.path,
            ", ".join(r.name for r in self.config.receivers),
        )

    def new_dispatcher(self) -> Any:
        """The dispatcher for this config: its receivers and the file's ``retry:`` policy."""
        from sinks.notify.dispatcher import Dispatcher

        return Dispatcher(
            self.dsn,
            self.config.receivers,
            self.stats,
            clock=self.clock,
            policy=self.config.retry,
        )

    async def _start_flusher(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reader.ready.wait(), SILENCES_WAIT)
        self.flusher.start()

    async def stop(self) -> None:
        """Stop the parts; uncommitted work is replayed at the next start (idempotently)."""
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None
        await self.flusher.stop()
        await self.flusher.store.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.dead_letters is not None:
            await self.dead_letters.stop()
            self.dead_letters = None


def attach(
    app: Any,
    settings: Settings,
    services: Any,
    stats: Stats,
    *,
    environ: Mapping[str, str] | None = None,
) -> Notifier | None:
    """Run notifications inside a Faust worker (started after recovery, stopped with it).

    The notify file is loaded now, so a bad one stops the worker before it starts.
    """
    from mode import Service

    config = from_settings(settings, environ)
    notifier = (
        None
        if config is None
        else Notifier(
            settings,
            config,
            bootstrap_servers=services.bootstrap_servers,
            dsn=services.postgres_dsn,
            stats=stats,
        )
    )

    class NotificationsInWorker(Service):  # type: ignore[misc]
        """Ties the notifier's lifetime to the Faust app's."""

        async def on_start(self) -> None:
            if notifier is None:
                off = settings.notify == "off"
                why = "LOOKOUT_NOTIFY=off" if off else "LOOKOUT_NOTIFY_FILE is not set"
                log.info("notify: notifications are off (%s)", why)
                return
            await notifier.start()

        async def on_stop(self) -> None:
            if notifier is not None:
                await notifier.stop()

    app.service(NotificationsInWorker())
    return notifier
