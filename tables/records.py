"""What the window engine emits: the final record of a closed window, and a refused late record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.tenancy import TENANT_TAG, TenantMap
from tables.series import SEP, describe_series

# describe_series per series id, shared by the final records of every window of the series (a
# record is serialised as soon as it is built and its labels are never changed).
_LABELS: dict[str, dict[str, Any]] = {}
_LABELS_MAX = 200_000


def _labels(series: str) -> dict[str, Any]:
    labels = _LABELS.get(series)
    if labels is None:
        if len(_LABELS) >= _LABELS_MAX:
            _LABELS.clear()
        labels = _LABELS[series] = describe_series(series)
    return labels


# The JSON pieces of a series that every final record of it repeats (built once, see
# final_bodies): its tenant tag, the opening of the id, and ``"series"`` with ``"labels"``.
_PIECES: dict[str, tuple[str | None, bytes, bytes]] = {}
_PIECES_MAX = 200_000
_QUOTED: dict[str, bytes] = {}  # JSON strings of hosts, tenants and kinds
_ID_SEP = orjson.dumps(SEP)[1:-1]  # the separator inside a JSON string


def _pieces(series: str) -> tuple[str | None, bytes, bytes]:
    got = _PIECES.get(series)
    if got is None:
        if len(_PIECES) >= _PIECES_MAX:
            _PIECES.clear()
        labels = describe_series(series)
        tag = (labels.get("tags") or {}).get(TENANT_TAG)
        dumps = orjson.dumps
        got = _PIECES[series] = (
            None if not tag else str(tag),
            b'{"id":' + dumps(series)[:-1] + _ID_SEP,
            b',"series":' + dumps(series) + b',"labels":' + dumps(labels),
        )
    return got


def _quoted(text: str | None) -> bytes:
    got = _QUOTED.get(text)  # type: ignore[arg-type]
    if got is None:
        if len(_QUOTED) >= _PIECES_MAX:
            _QUOTED.clear()
        got = _QUOTED[text] = orjson.dumps(text)  # type: ignore[index]
    return got


@dataclass(slots=True)
class Final:
    """The one final record of a closed window of one series (not frozen: one is built per
    series and window, and a frozen dataclass pays a setattr call per field)."""

    host: str
    partition: int
    series: str
    kind: str
    start: int
    end: int
    result: dict[str, Any]

    @property
    def id(self) -> str:
        """Idempotent id: series + kind + window start."""
        return f"{self.series}{SEP}{self.kind}{SEP}{self.start}"

    def to_record(self, closed_at: float, tenants: TenantMap | None = None) -> dict[str, Any]:
        """The JSON record written to ``lookout.windows`` (with the host's tenant); its labels
        dict is shared with the series' other records: serialise it, do not change it."""
        labels = _labels(self.series)
        return {
            "id": self.id,
            "host": self.host,
            "tenant": tenants.of(self.host, labels) if tenants else None,
            "series": self.series,
            "labels": labels,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "value": self.result,
            "closed_at": closed_at,
        }


def final_bodies(
    finals: Sequence[Final], closed_at: bytes, tenants: TenantMap | None = None
) -> list[bytes]:
    """The ``lookout.windows`` record of each final, serialised: byte for byte
    ``orjson.dumps(final.to_record(closed_at, tenants))``, ``closed_at`` serialised once.

    The hot path of closing windows (a host closes all its series' windows at once). What a
    record repeats is serialised once and joined: per series its id head, series and labels;
    per window (consecutive finals of one host, kind and start) host, tenant, kind, start and
    end. Only the result is serialised per record. Each body is exactly the record's size
    (kept in the recent rings).
    """
    bodies: list[bytes] = []
    append, join, dumps = bodies.append, b"".join, orjson.dumps
    window: tuple[str, str, int, int] | None = None
    tenant: str | None = None
    mid = tail = b""
    tail_end = b',"closed_at":' + closed_at + b"}"
    for final in finals:
        tag, id_head, series_labels = _pieces(final.series)
        host = final.host
        key = (host, final.kind, final.start, final.end)
        if key != window or tag is not None:
            # A series' tenant tag can teach the map the host's tenant; the pieces follow it.
            now_tenant = tenants.of_tag(host, tag) if tenants else None
            if key != window or now_tenant != tenant:
                window, tenant = key, now_tenant
                kind, start = _quoted(final.kind), str(final.start).encode()
                mid = join((kind[1:-1], _ID_SEP, start, b'","host":', _quoted(host)))
                mid += b',"tenant":' + _quoted(tenant)
                tail = (
                    join((b',"kind":', kind, b',"start":', start, b',"end":'))
                    + str(final.end).encode()
                    + b',"value":'
                )
        append(join((id_head, mid, series_labels, tail, dumps(final.result), tail_end)))
    return bodies


def window_records(
    finals: Sequence[Final], bodies: Sequence[bytes]
) -> tuple[list[tuple[bytes, bytes, int]], dict[str, int]]:
    """The ``lookout.windows`` records of serialised finals, ``(key, body, partition)`` with
    the host as key, and how many finals each window kind closed (for the metrics). One pass,
    a host's key encoded once for its run of finals (a host closes its series together)."""
    records: list[tuple[bytes, bytes, int]] = []
    kinds: dict[str, int] = {}
    append = records.append
    host: str | None = None
    key = b""
    for i in range(len(finals)):
        final = finals[i]
        if final.host != host:
            host = final.host
            key = host.encode()
        append((key, bodies[i], final.partition))
        kind = final.kind
        kinds[kind] = kinds.get(kind, 0) + 1
    return records, kinds


@dataclass(frozen=True, slots=True)
class Late:
    """A record refused because a window containing it had already closed."""

    host: str
    partition: int
    series: str
    ts: float
    mark: float
