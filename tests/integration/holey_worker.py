"""``lookout worker`` whose input source drops a run of metrics records once: a forced hole.

Run as ``python -m tests.integration.holey_worker worker ...`` (``Worker(module=...)``).
``HOLEY_DROP=first:count`` makes the first delivery of offsets ``first .. first+count-1``
of every partition of the metrics topic vanish (what Faust's stream once did at the end of a
recovery, tables/ordering.py); a re-read after the pipeline's seek hands them out. With
``HOLEY_NO_SEEK=1`` the fetcher ignores the pipeline's seeks, so the hole stays open and
every later record of the partition is held: a worker to kill -9 with a hole open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from agents.fetcher import InputFetcher, KafkaSource
from app.cli import main
from app.settings import load_settings
from app.topics import TopicNames


def install(first: int, count: int, topic: str, no_seek: bool) -> None:
    """Patch the fetcher's source (and, with ``no_seek``, its seek) in this process."""
    dropped: set[tuple[int, int]] = set()
    fetch = KafkaSource.getmany

    async def getmany(
        self: KafkaSource, wait: float, max_records: int
    ) -> Mapping[tuple[str, int], Sequence[Any]]:
        parts = await fetch(self, wait, max_records)
        out = {}
        for tp, records in parts.items():
            kept = []
            for r in records:
                key = (r.partition, r.offset)
                if r.topic == topic and first <= r.offset < first + count and key not in dropped:
                    dropped.add(key)
                    continue
                kept.append(r)
            out[tp] = kept
        return out

    async def ignore_seek(self: InputFetcher, topic: str, partition: int, offset: int) -> None:
        return None

    KafkaSource.getmany = getmany  # type: ignore[method-assign]
    if no_seek:
        InputFetcher.seek = ignore_seek  # type: ignore[method-assign]


if __name__ == "__main__":
    first, count = (int(x) for x in os.environ["HOLEY_DROP"].split(":"))
    metrics = TopicNames.from_settings(load_settings()).metrics
    install(first, count, metrics, os.environ.get("HOLEY_NO_SEEK") == "1")
    main()
