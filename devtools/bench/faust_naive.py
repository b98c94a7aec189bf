"""Drain (b), the naive Faust pattern: ``table[host|series] += 1`` on a 60-s tumbling table.

One windowed-table update per field of every metric (a series is one field), so one changelog
message per field. Windows follow the
Kafka message timestamp, which the bench sets to the metric's event time.
``python -m devtools.bench.faust_naive --broker ... --topic ... worker`` (see faust_base.py).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import faust

from devtools.bench import faust_base
from devtools.bench.decoding import records_of
from devtools.bench.tally import Tally

WINDOW = 60


def build(app: faust.App, ns: argparse.Namespace, tally: Tally) -> None:
    """One tumbling table keyed by host and series, one agent updating it per field."""
    counts = app.Table(
        "naive_counts", default=int, partitions=ns.partitions, key_type=str, value_type=int
    ).tumbling(WINDOW, expires=timedelta(seconds=ns.expires))

    @app.agent(faust_base.source(app, ns), name="bench.naive")
    async def naive(stream: faust.StreamT) -> None:
        async for value in stream:
            metrics = records_of(value)
            for m in metrics:
                prefix = f"{m['tags']['host']}|{m['name']}."
                for field in m["fields"]:
                    counts[prefix + field] += 1
            tally.add(len(metrics))


if __name__ == "__main__":
    faust_base.run("faust_naive", build)
