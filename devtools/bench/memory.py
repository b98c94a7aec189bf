"""An in-memory input source for the fetcher (agents/fetcher.py): partitions as lists; and a
broker-less worker fed from it (the agent tests and the in-process harness,
devtools/bench/inprocess.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from agents.fetcher import InputFetcher
from agents.runtime import Lookout
from app.settings import load_settings
from app.worker import create_app
from tables.output import RecordingOutput

TPKey = tuple[str, int]


class MemorySource:
    """Records kept per partition; ``getmany`` hands out what lies past each position."""

    def __init__(self) -> None:
        self.logs: dict[TPKey, list[Any]] = {}
        self.positions: dict[TPKey, int] = {}
        self.assigned: set[TPKey] = set()
        self.seeks: list[tuple[TPKey, int]] = []
        # partitions whose fetch has silently stopped (a client fault after broker trouble):
        # getmany hands out nothing of them until they are seeked
        self.stalled: set[TPKey] = set()
        self.paused: set[TPKey] = set()
        self.puts = 0

    def put(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        partition: int = 0,
        timestamp: int | None = None,
    ) -> int:
        """Append a record; returns its offset. Its timestamp is, unless given, the number of
        records put before it (a producer's clock: the order of the puts)."""
        log = self.logs.setdefault((topic, partition), [])
        offset = len(log)
        stamp = self.puts if timestamp is None else timestamp
        self.puts += 1
        log.append(
            SimpleNamespace(
                topic=topic, partition=partition, offset=offset, timestamp=stamp, key=key,
                value=value,
            )
        )  # fmt: skip
        return offset

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to close."""

    def assign(self, tps: set[TPKey]) -> None:
        """Read these partitions (none paused)."""
        self.assigned = set(tps)
        self.paused.clear()

    def pause(self, tps: Iterable[TPKey]) -> None:
        """Hand out nothing of ``tps`` until resumed."""
        self.paused.update(tps)

    def resume(self, tps: Iterable[TPKey]) -> None:
        """Hand out ``tps`` again."""
        self.paused.difference_update(tps)

    def known_highwaters(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The end of each partition's list (always known here)."""
        return {tp: len(self.logs.get(tp, [])) for tp in tps}

    def seek(self, tp: TPKey, offset: int) -> None:
        """Next read of ``tp`` from ``offset`` (-1: the beginning)."""
        self.seeks.append((tp, offset))
        self.positions[tp] = max(offset, 0)
        self.stalled.discard(tp)

    async def latest_offsets(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The end of each partition's list."""
        return {tp: len(self.logs.get(tp, [])) for tp in tps}

    async def getmany(self, wait: float, max_records: int) -> Mapping[TPKey, Sequence[Any]]:
        """Up to ``max_records`` records past the positions, partition by partition (in name
        order: a backlog of one topic comes whole before the next one's, as a client may)."""
        out: dict[TPKey, Sequence[Any]] = {}
        room = max_records
        for tp in sorted(self.assigned):
            if tp in self.stalled or tp in self.paused:
                continue
            log = self.logs.get(tp, [])
            pos = self.positions.get(tp, 0)
            take = log[pos : pos + room]
            if take:
                out[tp] = take
                room -= len(take)
            self.positions[tp] = pos + len(take)
            if room <= 0:
                break
        return out


def memory_worker(
    env: dict[str, str], batch_max: int | None = None
) -> tuple[Lookout, RecordingOutput, MemorySource, InputFetcher]:
    """A one-partition worker without a broker: writes recorded, input from a MemorySource."""
    settings = load_settings({"LOOKOUT_PARTITIONS": "1", **env})
    lk = create_app(settings, "kafka://127.0.0.1:1")
    out = RecordingOutput()
    lk.store.out = out
    source = MemorySource()
    fetcher = InputFetcher(
        lk.app,
        lk.store,
        lk.pipeline,
        lk.topics.inputs(),
        source,
        batch_max=batch_max or settings.batch_max,
        within=0.0,
        align_wait=settings.input_align_wait,
        owned=lambda: {(t, 0) for t in lk.topics.inputs()},
    )
    return lk, out, source, fetcher
