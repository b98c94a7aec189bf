"""Live-tail positions: the next Kafka offset of each (topic, partition), as an SSE event id.

An event's id is the whole position vector after that event, ``topic/partition/offset`` joined
by ``,`` (``offset``: the next one to read), so a client that reconnects with ``Last-Event-ID``
resumes every partition exactly where it stopped: it gets the lines it missed, none twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from logsearch.params import BadParam

HEADER = "Last-Event-ID"
MAX_ID = 8192

Positions = dict[tuple[str, int], int]


def event_id(positions: Mapping[tuple[str, int], int]) -> str:
    """The id of an event: every partition's next offset, sorted."""
    return ",".join(f"{t}/{p}/{o}" for (t, p), o in sorted(positions.items()))


def parse_event_id(raw: str, topics: Collection[str]) -> Positions:
    """The positions in a ``Last-Event-ID``; BadParam naming the header when it is not one."""
    if len(raw) > MAX_ID:
        raise BadParam(HEADER, f"longer than {MAX_ID} characters")
    out: Positions = {}
    for part in raw.split(","):
        topic, _, rest = part.strip().rpartition("/")
        name, _, partition = topic.rpartition("/")
        try:
            key, offset = (name, int(partition)), int(rest)
        except ValueError:
            raise BadParam(HEADER, f"{part[:60]!r} is not topic/partition/offset") from None
        if name not in topics or key[1] < 0 or offset < 0:
            raise BadParam(HEADER, f"{part[:60]!r} is not a position of the log topics")
        out[key] = offset
    return out
