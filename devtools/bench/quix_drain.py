"""Drain (d): Quix Streams counting metrics per host in a 60-s tumbling window (``.current()``).

``python -m devtools.bench.quix_drain --bootstrap host:port --topic T --group G --target N
--tally FILE --state-dir DIR [--batch | --text]``. ``--text`` (W3) reads each message as one
raw line (no JSON decoding); ``--batch`` (W2) expands ``{"metrics": [...]}`` into
one row per metric and takes each row's event time from its ``timestamp``; W1 rows use the Kafka
message timestamp, which the bench sets to the metric's event time. Late rows (none expected:
the workloads are in time order per host) are counted too, so the drain always completes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from devtools.bench.tally import Tally

WINDOW_MS = 60_000


def main() -> None:
    """Run the Quix app until the target is counted."""
    p = argparse.ArgumentParser(prog="quix_drain", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap", required=True, help="host:port")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--tally", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--batch", action="store_true", help="messages are Telegraf batches")
    p.add_argument("--text", action="store_true", help="messages are raw text lines")
    ns = p.parse_args()

    from quixstreams import Application

    tally = Tally(ns.tally, ns.target)
    app = Application(
        broker_address=ns.bootstrap,
        consumer_group=ns.group,
        auto_offset_reset="earliest",
        state_dir=ns.state_dir,
        loglevel="WARNING",
        # Tansu completes a group join after about half the session timeout (45 s default).
        consumer_extra_config={"session.timeout.ms": 10_000, "heartbeat.interval.ms": 3_000},
    )
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    if ns.text:
        topic = app.topic(ns.topic, key_deserializer="str", value_deserializer="str")
    else:
        topic = app.topic(ns.topic, key_deserializer="str", value_deserializer="json")
    sdf = app.dataframe(topic)
    if ns.batch:
        sdf = sdf.apply(lambda value: value["metrics"], expand=True)
        sdf = sdf.set_timestamp(lambda value, key, ts, headers: int(value["timestamp"]) * 1000)

    def count(_value: Any) -> None:
        if tally.add(1):
            app.stop()

    def late(
        value: Any,
        key: Any,
        timestamp_ms: int,
        late_by_ms: int,
        start: int,
        end: int,
        store_name: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> bool:
        count(value)
        return False

    sdf = sdf.tumbling_window(WINDOW_MS, on_late=late).count().current()
    sdf = sdf.update(count)
    app.run()


if __name__ == "__main__":
    main()
