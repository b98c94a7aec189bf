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

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import orjson

VERSION = 1
TP = tuple[str, int]  # (input topic, partition)


class AssignmentLog:
    """What the worker decided in one batch; :meth:`take` turns it into records.

    Cheap on the hot path: :meth:`cover` (once per message) returns the list its mined lines go
    to, and a line is one ``lines += (offset, item, pattern_id)``; ids become indexes and
    offsets deltas only in :meth:`take`, once per batch, with list slices.
    """

    __slots__ = ("_last", "covered", "forwarded", "mined", "stamps")

    def __init__(self) -> None:
        self.covered: dict[TP, list[int]] = {}  # -> [first offset, last offset, newest ts ms]
        self.mined: dict[TP, list[int | str]] = {}  # -> offset, item, pattern id, offset, ...
        self.forwarded: dict[TP, list[int]] = {}  # -> offset, item, offset, item, ...
        self.stamps: dict[int, int] = {}  # partition -> newest input timestamp (ms)
        self._last: tuple[str, int, list[int], list[int | str]] | None = None

    def cover(self, topic: str, partition: int, offset: int, ts_ms: int) -> list[int | str]:
        """The batch processed this message (offsets of a partition arrive ascending); returns
        the list its mined lines are added to."""
        last = self._last
        if last is not None and last[0] is topic and last[1] == partition:
            span, lines = last[2], last[3]  # the same partition as the message before
            span[1] = offset
            if ts_ms > span[2]:
                span[2] = ts_ms
            return lines
        tp = (topic, partition)
        known = self.covered.get(tp)
        if known is None:
            known = self.covered[tp] = [offset, offset, ts_ms]
        else:
            known[1] = offset
            if ts_ms > known[2]:
                known[2] = ts_ms
        found = self.mined.get(tp)
        if found is None:
            found = self.mined[tp] = []
        self._last = (topic, partition, known, found)
        return found

    def origin(self, topic: str, partition: int, ts_ms: int) -> list[int | str]:
        """The list for lines of a message forwarded from ``(topic, partition)`` (their ids are
        published under that position, with no coverage)."""
        self.stamp(partition, ts_ms)
        return self.mined.setdefault((topic, partition), [])

    def forward(self, topic: str, partition: int, offset: int, item: int) -> None:
        """A minable line whose host another partition owns (mined there, via the rekey)."""
        self.forwarded.setdefault((topic, partition), []).extend((offset, item))

    def stamp(self, partition: int, ts_ms: int) -> None:
        """Note the timestamp of an input message a record of ``partition`` describes."""
        if ts_ms > self.stamps.get(partition, -1):
            self.stamps[partition] = ts_ms

    def __bool__(self) -> bool:
        return bool(self.covered or self.forwarded or any(self.mined.values()))

    def take(self) -> list[tuple[int, bytes, bytes, int]]:
        """``(partition, key, value, timestamp ms)`` per input partition; empties the log."""
        parts: dict[int, dict[str, object]] = {}
        for (topic, partition), (first, last, ts) in self.covered.items():
            parts.setdefault(partition, {}).setdefault("c", {})[topic] = [first, last]  # type: ignore[index]
            self.stamp(partition, ts)
        by_partition: dict[int, list[tuple[str, list[int | str]]]] = {}
        for (topic, partition), lines in self.mined.items():
            if lines:
                by_partition.setdefault(partition, []).append((topic, lines))
        for partition, groups in by_partition.items():
            doc = parts.setdefault(partition, {})
            ids = list(dict.fromkeys(pid for _t, lines in groups for pid in lines[2::3]))
            index = {pid: n for n, pid in enumerate(ids)}
            doc["ids"] = ids
            doc["m"] = {
                topic: _interleave(
                    _deltas(lines[0::3]),  # type: ignore[arg-type]
                    lines[1::3],
                    [index[pid] for pid in lines[2::3]],  # type: ignore[index]
                )
                for topic, lines in groups
            }
        for (topic, partition), flat in self.forwarded.items():
            doc = parts.setdefault(partition, {})
            doc.setdefault("f", {})[topic] = _interleave(_deltas(flat[0::2]), flat[1::2])  # type: ignore[index]
        out = [
            (p, str(p).encode(), orjson.dumps({"v": VERSION, **doc}), max(self.stamps.get(p, 0), 0))
            for p, doc in sorted(parts.items())
        ]
        self.covered, self.mined, self.forwarded, self.stamps = {}, {}, {}, {}
        self._last = None
        return out


def _deltas(offsets: list[int]) -> list[int]:
    """Each offset as the difference to the one before (negative when out of order)."""
    return offsets[:1] + [b - a for a, b in pairwise(offsets)]


def _interleave(*columns: list[Any]) -> list[Any]:
    """``[a0, b0, a1, b1, ...]`` from columns ``a`` and ``b`` of equal length."""
    width = len(columns)
    out: list[Any] = [0] * (width * len(columns[0]))
    for n, column in enumerate(columns):
        out[n::width] = column
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
