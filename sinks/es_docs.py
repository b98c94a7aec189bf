"""Kafka messages -> Elasticsearch documents (pure: no I/O, no clock).

* ``logs.nginx``: every access and error entry -> ``{prefix}logs-nginx-YYYY.MM.DD`` of its event
  day (UTC), with ``type`` ``access`` or ``error`` (errors also get the ``category`` of
  sinks.classify).
* ``logs.app``: every record -> ``{prefix}logs-app-YYYY.MM.DD``.

Every document carries its host's ``tenant`` (a keyword: the log API filters on it), from the
host->tenant map the mapper is given (the worker's :class:`~app.tenancy.TenantMap`, kept
current by :mod:`sinks.host_tenants`; without one, the default tenant).

``_id`` = ``{topic}-{partition}-{offset}-{item}`` (``item``: the record's index among the
message's decoded records), so writing a message again overwrites its documents instead of adding
copies. The same id is in the source as ``log_id`` (a keyword): log search sorts on
``(@timestamp, log_id)``, since Elasticsearch 8 refuses to sort on ``_id``. A record without
its own time takes the Kafka message timestamp (a replay reproduces it). Parts the decoders
reject are skipped: the worker dead-letters them already; except a part rejected only for
invalid UTF-8, which is decoded again with U+FFFD in place of the bad bytes and stored too, so
such a line can still be searched (the worker still dead-letters and counts it). A record with
a time outside years 1..9999 is refused (dead letter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.tenancy import TenantMap
from app.topics import TopicNames
from formats.decode import decode_app, decode_nginx
from formats.points import AccessLog, AppLog, ErrorLog, Rejected
from sinks.batch import Mapped, Message
from sinks.classify import classify
from sinks.es_templates import APP, NGINX, daily_index

Patterns = Mapping[int, str] | None  # item -> pattern_id of a message (sinks/pattern_feed.py)
_MIN_TIME = -62_135_596_800.0
_MAX_TIME = 253_402_300_799.0


@dataclass(frozen=True, slots=True)
class Doc:
    """One document: target index, ``_id``, item index in its message, JSON source."""

    index: str
    id: str
    item: int
    source: bytes


def doc_id(topic: str, partition: int, offset: int, item: int) -> str:
    """Deterministic ``_id`` of a record: its Kafka position and index in the message."""
    return f"{topic}-{partition}-{offset}-{item}"


def timestamp(ts: float) -> tuple[str, str]:
    """``@timestamp`` (ISO 8601, milliseconds, UTC) and the daily index suffix ``YYYY.MM.DD``."""
    if not _MIN_TIME <= ts <= _MAX_TIME:
        raise ValueError(f"time {ts!r} is outside the years 1..9999")
    when = datetime.fromtimestamp(ts, UTC)
    iso = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return iso, when.strftime("%Y.%m.%d")


def access_doc(rec: AccessLog, at: str) -> dict[str, Any]:
    """Document of an nginx access entry."""
    doc: dict[str, Any] = {
        "@timestamp": at,
        "type": "access",
        "host": rec.host,
        "service": rec.service,
        "client_ip": rec.client_ip,
        "status": rec.status,
        "status_class": f"{rec.status // 100}xx",
        "bytes": rec.bytes,
    }
    optional = (
        ("method", rec.method),
        ("path", rec.path),
        ("protocol", rec.protocol),
        ("remote_user", rec.remote_user),
        ("referrer", rec.referrer),
        ("agent", rec.agent),
        ("request_time", rec.request_time),
        ("upstream_time", rec.upstream_time),
    )
    doc.update((k, v) for k, v in optional if v is not None)
    if rec.forwarded_for:
        doc["forwarded_for"] = rec.forwarded_for
    return doc


def error_doc(rec: ErrorLog, at: str) -> dict[str, Any]:
    """Document of an nginx error entry (with its category)."""
    doc: dict[str, Any] = {
        "@timestamp": at,
        "type": "error",
        "host": rec.host,
        "service": rec.service,
        "level": rec.level,
        "category": classify(rec.message),
        "message": rec.message,
    }
    optional = (
        ("client_ip", rec.client),
        ("server", rec.server),
        ("request", rec.request),
        ("upstream", rec.upstream),
        ("vhost", rec.vhost),
        ("pid", rec.pid),
        ("tid", rec.tid),
        ("connection", rec.connection),
    )
    doc.update((k, v) for k, v in optional if v is not None)
    return doc


def app_doc(rec: AppLog, at: str) -> dict[str, Any]:
    """Document of an application log record."""
    doc: dict[str, Any] = {
        "@timestamp": at,
        "host": rec.host,
        "service": rec.service,
        "level": rec.level,
        "message": rec.message,
    }
    if rec.extra:
        doc["extra"] = rec.extra
    return doc


def repair_utf8(
    rejected: list[Rejected], decode: Callable[[bytes], tuple[list[Any], list[Rejected]]]
) -> tuple[list[Any], int]:
    """Records of the parts rejected only for invalid UTF-8 (bad bytes replaced by U+FFFD), and
    how many parts stay rejected."""
    records: list[Any] = []
    left = 0
    for part in rejected:
        if part.reason != "not_utf8":
            left += 1
            continue
        again, still = decode(part.original.decode("utf-8", "replace").encode())
        records.extend(again)
        left += len(still)
    return records, left


class EsMapper:
    """Maps messages of the Elasticsearch sink's topics to documents."""

    def __init__(
        self, topics: TopicNames, *, prefix: str = "", tenants: TenantMap | None = None
    ) -> None:
        self.prefix = prefix
        self.tenants = tenants if tenants is not None else TenantMap("default")
        self._by_topic: dict[str, Callable[[Message, Patterns], Mapped[list[Doc]]]] = {
            topics.logs_nginx: self._nginx,
            topics.logs_app: self._app,
        }
        self.topics = tuple(self._by_topic)

    def __call__(self, msg: Message, patterns: Patterns = None) -> Mapped[list[Doc]]:
        """Documents of one message (payload None when it holds none); ``patterns``: the
        ``pattern_id`` of each mined item, stored on its document."""
        handler = self._by_topic.get(msg.topic)
        if handler is None or not msg.value:
            return Mapped(None)
        mapped = handler(msg, patterns)
        if not mapped.payload:
            mapped.payload = None
        return mapped

    def _docs(
        self,
        msg: Message,
        family: str,
        records: list[Any],
        rejected: int,
        build: Callable[[Any, str], dict[str, Any]],
        patterns: Patterns,
    ) -> Mapped[list[Doc]]:
        docs: list[Doc] = []
        mapped: Mapped[list[Doc]] = Mapped(docs, skipped=rejected)
        fallback = msg.timestamp / 1000.0
        tenant_of = self.tenants.of
        for item, rec in enumerate(records):
            try:
                at, day = timestamp(rec.time if rec.time is not None else fallback)
            except ValueError as exc:
                mapped.rejected.append((item, str(exc)))
                continue
            log_id = doc_id(msg.topic, msg.partition, msg.offset, item)
            body = {**build(rec, at), "tenant": tenant_of(rec.host), "log_id": log_id}
            if patterns and item in patterns:
                body["pattern_id"] = patterns[item]
            source = orjson.dumps(body, default=str)
            index = daily_index(self.prefix, family, day)
            docs.append(Doc(index, log_id, item, source))
        return mapped

    def _nginx(self, msg: Message, patterns: Patterns) -> Mapped[list[Doc]]:
        host = msg.key.decode("utf-8", "replace") if msg.key else "unknown"
        records, rejected = decode_nginx(msg.value or b"", default_host=host)
        fixed, left = repair_utf8(rejected, lambda part: decode_nginx(part, default_host=host))
        return self._docs(msg, NGINX, [*records, *fixed], left, _nginx_doc, patterns)

    def _app(self, msg: Message, patterns: Patterns) -> Mapped[list[Doc]]:
        host = msg.key.decode("utf-8", "replace") if msg.key else "unknown"
        records, rejected = decode_app(msg.value or b"", default_host=host)
        fixed, left = repair_utf8(rejected, lambda part: decode_app(part, default_host=host))
        return self._docs(msg, APP, [*records, *fixed], left, app_doc, patterns)


def _nginx_doc(rec: AccessLog | ErrorLog, at: str) -> dict[str, Any]:
    return access_doc(rec, at) if isinstance(rec, AccessLog) else error_doc(rec, at)


def bulk_body(docs: list[Doc]) -> bytes:
    """NDJSON ``_bulk`` body: an ``index`` action and the source per document."""
    parts: list[bytes] = []
    for doc in docs:
        parts.append(orjson.dumps({"index": {"_index": doc.index, "_id": doc.id}}))
        parts.append(doc.source)
    parts.append(b"")
    return b"\n".join(parts)
