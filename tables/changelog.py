"""The Faust table behind the window store: its value codec, recovery hook and sentinel records.

Keys of the ``windows`` table: ``h|host`` (host state), ``p|host|pane`` (pane), ``a|host|fp``
(alert state) and ``s|partition`` (the sentinel that closes each flush of a changelog partition,
see ``tables/store.py``); values are orjson state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import orjson
from faust.serializers import codecs
from faust.types import TP

from tables.ordering import TPKey


class StateCodec(codecs.Codec):
    """orjson for changelog values (compact, fast, no pickle)."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("lookout-state", StateCodec())


class StateTable(faust.Table):
    """A Faust table that tells its owner when recovery (after a rebalance) has completed."""

    on_recovered: Callable[[], None] | None = None

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Let Faust drop foreign partitions, then rebuild the engine from the recovered data."""
        await super().on_recovery_completed(active_tps, standby_tps)
        if self.on_recovered is not None:
            self.on_recovered()


def sentinel(partition: int, seq: int, prefixes: dict[str, int]) -> tuple[bytes, bytes]:
    """Key and value of the sentinel of ``partition``: a sequence number and the input prefixes."""
    return f"s|{partition}".encode(), orjson.dumps({"seq": seq, "in": prefixes})


def sentinel_prefixes(key: str, value: Any) -> dict[TPKey, int]:
    """The input prefixes a changelog sentinel ``s|p`` carries (older sentinels carry none)."""
    partition = int(key[2:])
    if not isinstance(value, dict):
        return {}
    return {(topic, partition): int(off) for topic, off in (value.get("in") or {}).items()}
