"""What the baseline drains decode: a workload message's records (pure)."""

from __future__ import annotations

from typing import Any

import orjson


def records_of(value: bytes) -> list[Any]:
    """Telegraf metric objects of a JSON message (single or batch), else its raw lines."""
    if value[:1] != b"{":
        return value.splitlines()
    doc = orjson.loads(value)
    batch = doc.get("metrics")
    return [doc] if batch is None else batch


def host_of(record: Any, key: bytes | None) -> Any:
    """The host a record counts for: a metric's ``host`` tag, else the message key."""
    return key if isinstance(record, bytes) else record["tags"]["host"]
