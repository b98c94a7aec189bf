"""A checker that knows what was sent: expected window counts by brute force, compared to finals.

Every gauge point sent is placed by hand into its tumbling window and each hopping window that
covers it (no window code of Lookout is used), so a final record whose ``count`` is below the
expectation lost records and one above it counted some twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

Key = tuple[str, str, str, int]  # host, measurement.field, kind, window start


def points(messages: Iterable[tuple[str | bytes, bytes]], skip_fields: frozenset[str]) -> list[Any]:
    """(host, measurement.field, ts) of every metric in Telegraf batches or single metrics."""
    out = []
    for _, value in messages:
        doc = orjson.loads(value)
        for m in doc.get("metrics", [doc]):
            host = m["tags"]["host"]
            for field in m["fields"]:
                if field not in skip_fields:
                    out.append((host, f"{m['name']}.{field}", m["timestamp"]))
    return out


def expected_counts(
    sent: Iterable[tuple[str, str, int]], tumbling: int, hop_size: int, hop_step: int
) -> Counter[Key]:
    """Expected ``count`` of every window that holds at least one point sent."""
    want: Counter[Key] = Counter()
    for host, name, ts in sent:
        want[(host, name, "tumbling", ts - ts % tumbling)] += 1
        start = ts - ts % hop_step
        while start > ts - hop_size:
            want[(host, name, "hopping", start)] += 1
            start -= hop_step
    return want


def expected_windows(
    messages: Iterable[tuple[str | bytes, bytes]], windows: dict[str, str]
) -> Counter[Key]:
    """Expected counts of the gauge fields of ``messages`` (closing ``x`` and the counter
    ``bytes_recv`` left out) under the window settings ``windows`` (LOOKOUT_* names, lower)."""
    return expected_counts(
        points(messages, frozenset({"x", "bytes_recv"})),
        int(windows["tumbling_size"]),
        int(windows["hopping_size"]),
        int(windows["hopping_step"]),
    )


def key_of(record: dict[str, Any]) -> Key:
    """The checker's key of a final window record from ``lookout.windows``."""
    labels = record["labels"]
    name = f"{labels['measurement']}.{labels['field']}"
    return (record["host"], name, record["kind"], int(record["start"]))


@dataclass(frozen=True)
class Tally:
    """Records sent, counted in closed tumbling windows, lost and counted twice."""

    sent: int
    windowed: int
    lost: int
    duplicated: int
    windows_missing: int
    windows_wrong: int  # a count other than the one sent, or a window of nothing sent

    @property
    def exact(self) -> bool:
        """Every window present with exactly the count sent."""
        return not (self.lost or self.duplicated or self.windows_missing or self.windows_wrong)


def tally(want: Counter[Key], finals: Iterable[dict[str, Any]]) -> Tally:
    """Compare finals (one per id) with the expected counts of gauge fields."""
    names = {key[1] for key in want}  # series of other fields (counters: rates) are not checked
    got = {key_of(rec): int(rec["value"]["count"]) for rec in finals if key_of(rec)[1] in names}
    lost = duplicated = missing = 0
    wrong = sum(1 for key, n in got.items() if key not in want and n)
    for key, n in want.items():
        have = got.get(key, 0)
        missing += key not in got
        wrong += key in got and have != n
        if key[2] == "tumbling":
            lost += max(0, n - have)
            duplicated += max(0, have - n)
    sent = sum(n for k, n in want.items() if k[2] == "tumbling")
    windowed = sum(n for k, n in got.items() if k[2] == "tumbling" and k in want)
    return Tally(sent, windowed, lost, duplicated, missing, wrong)
