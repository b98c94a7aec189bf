"""Lookout's Faust app: Faust's own, except that its consumer leaves the input topics alone.

The input topics stay subscribed in Faust's consumer group, so Faust's assignor hands each worker
the input partitions co-partitioned with its window-table partitions, and its rebalances and
recoveries work as always. But Faust's consumer never *fetches* them: the batch fetcher
(agents/fetcher.py) reads them, a batch at a time. Faust re-activates every assigned partition
in several places (assignment, ``resume_partitions`` after a recovery, buffer pressure drops),
so the one robust place to leave them out is where it computes the partitions to fetch
(``Consumer._get_active_partitions``, faust-streaming 0.15; the version is pinned below 0.16).

Cost: aiokafka's background fetcher may still prefetch one response per input partition after
an assignment (it is never handed out, at most ``max_partition_fetch_bytes`` each).
"""

from __future__ import annotations

from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class InputsApartConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer that never fetches the topics in ``app.external_topics``."""

    def _get_active_partitions(self) -> set[TP]:
        active: set[TP] = super()._get_active_partitions()
        external = getattr(self.app, "external_topics", ())
        if external:
            for tp in [tp for tp in active if tp.topic in external]:
                active.discard(tp)
        return active


class InputsApartTransport(faust_aiokafka.Transport):
    """The aiokafka transport with :class:`InputsApartConsumer`."""

    Consumer: ClassVar[Any] = InputsApartConsumer


class LookoutApp(faust.App):
    """A Faust app whose consumer leaves ``external_topics`` to another reader."""

    external_topics: frozenset[str] = frozenset()

    def _new_transport(self) -> Any:
        return InputsApartTransport(self.conf.broker_consumer, self)
