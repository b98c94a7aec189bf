"""Which pattern each mined log line went to: the records of ``lookout.patterns`` (pure).

A worker mines a log line at its Kafka position (input topic, partition, offset) and its index
``item`` among the message's decoded records, the same four values that key the line's
Elasticsearch document and Postgres row. After each batch it publishes, per input partition, one
record (:class:`AssignmentLog`), to the partition of ``lookout.patterns`` with the input
partition's number:

* ``c`` *covered*: per input topic, the offsets ``[first, last]`` the batch processed on that
  partition (every message in between was decided: mined, not minable, or forwarded);
* ``ids`` and ``m`` *mined*: the distinct pattern ids, and per input topic a flat list of
  ``offset delta, item, index into ids`` for each mined line (offsets ascending);
* ``f`` *forwarded*: per input topic ``offset delta, item`` of the minable lines whose host
  another partition owns; they went through ``lookout.rekey`` and that partition's worker
  publishes their ids (in ``m``, with no ``c``) under the original position.

A sink knows a message's ids once its offset is covered and each forwarded item of it has an id
(:mod:`patterns.join`). The record's Kafka timestamp is the newest timestamp of the input messages
it describes, so a reader that seeks ``lookout.patterns`` by a message's timestamp (``offsets for
times``) lands at or before every record about that message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

Where = tuple[str, int, int]  # (input topic, partition, offset) of a Kafka message
VERSION = 1


class AssignmentLog:
    """What the worker decided in one batch; :meth:`take` turns it into records."""

    __slots__ = ("covered", "forwarded", "mined", "stamps")

    def __init__(self) -> None:
        # (topic, partition) -> [first offset, last offset, newest timestamp ms]
        self.covered: dict[tuple[str, int], list[int]] = {}
        self.mined: list[tuple[Where, int, str]] = []  # (where, item, pattern id)
        self.forwarded: list[tuple[Where, int]] = []  # (where, item)
        self.stamps: dict[int, int] = {}  # partition -> newest input timestamp (ms)

    def cover(self, topic: str, partition: int, offset: int, ts_ms: int) -> None:
        """The batch processed this message (offsets of a partition arrive ascending)."""
        span = self.covered.get((topic, partition))
        if span is None:
            self.covered[(topic, partition)] = [offset, offset, ts_ms]
        else:
            span[1] = offset
            if ts_ms > span[2]:
                span[2] = ts_ms

    def stamp(self, partition: int, ts_ms: int) -> None:
        """Note the timestamp of an input message a record of ``partition`` describes."""
        if ts_ms > self.stamps.get(partition, -1):
            self.stamps[partition] = ts_ms

    def __bool__(self) -> bool:
        return bool(self.covered or self.mined or self.forwarded)

    def take(self) -> list[tuple[int, bytes, bytes, int]]:
        """``(partition, key, value, timestamp ms)`` per input partition; empties the log."""
        parts: dict[int, _Part] = {}
        for (topic, partition), (first, last, ts) in self.covered.items():
            _part(parts, partition).covered[topic] = [first, last]
            self.stamp(partition, ts)
        for (topic, partition, offset), item, pid in self.mined:
            _part(parts, partition).mine(topic, offset, item, pid)
        for (topic, partition, offset), item in self.forwarded:
            _part(parts, partition).forward(topic, offset, item)
        out = [
            (p, str(p).encode(), part.encode(), max(self.stamps.get(p, 0), 0))
            for p, part in sorted(parts.items())
        ]
        self.covered, self.mined, self.forwarded, self.stamps = {}, [], [], {}
        return out


class _Part:
    """One record being built (one input partition)."""

    __slots__ = ("covered", "fwd", "ids", "index", "mined")

    def __init__(self) -> None:
        self.covered: dict[str, list[int]] = {}
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.mined: dict[str, list[tuple[int, int, int]]] = {}
        self.fwd: dict[str, list[tuple[int, int]]] = {}

    def mine(self, topic: str, offset: int, item: int, pid: str) -> None:
        n = self.index.get(pid)
        if n is None:
            n = self.index[pid] = len(self.ids)
            self.ids.append(pid)
        self.mined.setdefault(topic, []).append((offset, item, n))

    def forward(self, topic: str, offset: int, item: int) -> None:
        self.fwd.setdefault(topic, []).append((offset, item))

    def encode(self) -> bytes:
        doc: dict[str, object] = {"v": VERSION}
        if self.covered:
            doc["c"] = self.covered
        if self.mined:
            doc["ids"] = self.ids
            doc["m"] = {t: _flat(sorted(rows)) for t, rows in self.mined.items()}
        if self.fwd:
            doc["f"] = {t: _flat(sorted(rows)) for t, rows in self.fwd.items()}
        return orjson.dumps(doc)


def _part(parts: dict[int, _Part], partition: int) -> _Part:
    part = parts.get(partition)
    if part is None:
        part = parts[partition] = _Part()
    return part


def _flat(rows: Iterable[tuple[int, ...]]) -> list[int]:
    """Rows ``(offset, ...)`` ascending -> one flat list with offsets as deltas."""
    out: list[int] = []
    last = 0
    for offset, *rest in rows:
        out.append(offset - last)
        out.extend(rest)
        last = offset
    return out


@dataclass(slots=True)
class Assignment:
    """One decoded record of ``lookout.patterns`` (input partition ``partition``)."""

    partition: int
    covered: dict[str, tuple[int, int]] = field(default_factory=dict)
    ids: dict[str, dict[int, dict[int, str]]] = field(default_factory=dict)  # topic->off->item
    forwarded: dict[str, dict[int, set[int]]] = field(default_factory=dict)  # topic->off->items


class AssignmentError(ValueError):
    """A ``lookout.patterns`` record that does not decode."""


def decode(partition: int, value: bytes) -> Assignment:
    """The :class:`Assignment` in a record's value (raises :class:`AssignmentError`)."""
    try:
        doc = orjson.loads(value)
        if doc.get("v") != VERSION:
            raise AssignmentError(f"unknown version {doc.get('v')!r}")
        out = Assignment(partition)
        for topic, (first, last) in doc.get("c", {}).items():
            out.covered[topic] = (int(first), int(last))
        ids = doc.get("ids", [])
        for topic, flat in doc.get("m", {}).items():
            per = out.ids[topic] = {}
            offset = 0
            for n in range(0, len(flat), 3):
                offset += flat[n]
                per.setdefault(offset, {})[flat[n + 1]] = ids[flat[n + 2]]
        for topic, flat in doc.get("f", {}).items():
            fwd = out.forwarded[topic] = {}
            offset = 0
            for n in range(0, len(flat), 2):
                offset += flat[n]
                fwd.setdefault(offset, set()).add(flat[n + 1])
        return out
    except AssignmentError:
        raise
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError) as exc:
        raise AssignmentError(f"{type(exc).__name__}: {exc}") from None
