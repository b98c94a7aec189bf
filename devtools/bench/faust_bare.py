"""Drain (a'): a Faust agent that only iterates the stream and decodes each message.

``python -m devtools.bench.faust_bare --broker ... --topic ... worker`` (see faust_base.py).
"""

from __future__ import annotations

import argparse

import faust

from devtools.bench import faust_base
from devtools.bench.decoding import records_of
from devtools.bench.tally import Tally


def build(app: faust.App, ns: argparse.Namespace, tally: Tally) -> None:
    """One agent: decode every message, count its records (metrics or lines)."""

    @app.agent(faust_base.source(app, ns), name="bench.bare")
    async def bare(stream: faust.StreamT) -> None:
        async for value in stream:
            tally.add(len(records_of(value)))


if __name__ == "__main__":
    faust_base.run("faust_bare", build)
