"""Kafka messages -> Elasticsearch documents, index names, templates, bulk outcomes (pure)."""

from __future__ import annotations

import orjson
import pytest

from app.settings import load_settings
from app.tenancy import TenantMap
from app.topics import TopicNames
from formats.points import AccessLog
from sinks.batch import Batch, Entry
from sinks.elasticsearch import bulk_outcome, marker_id
from sinks.es_docs import Doc, EsMapper, access_doc, bulk_body, doc_id, timestamp
from sinks.es_templates import (
    app_mappings,
    index_prefix,
    indices_to_drop,
    nginx_mappings,
    templates,
)
from tests.unit.sinks.fakes import TP0, Rec

NAMES = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": "p."}))
MAP = EsMapper(NAMES, prefix="p.")
KAFKA_TS = 1_704_070_000_123

ACCESS = (
    b'10.0.0.1 - alice [31/Dec/2023:23:59:59 +0000] "GET /cart?id=1 HTTP/1.1" 503 512 "-" '
    b'"curl/8.4" 0.250 0.249\n'
    b'2001:db8::1 - - [01/Jan/2024:00:00:01 +0000] "POST /pay HTTP/2.0" 201 0 "https://x/" '
    b'"Mozilla"'
)
ERROR = (
    b"2024/01/01 00:00:05 [error] 12#13: *3 upstream timed out (110: Connection timed out) while "
    b'reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / '
    b'HTTP/1.1", upstream: "http://10.0.0.9:8080/", host: "shop"'
)


def msg(topic: str, value: bytes, offset: int = 9) -> Rec:
    return Rec(topic, 2, offset, b"host-a", value, KAFKA_TS)


def docs(topic: str, value: bytes) -> list[Doc]:
    mapped = MAP(msg(topic, value))  # type: ignore[arg-type]
    assert mapped.payload is not None
    return mapped.payload


def test_access_entries_go_to_the_index_of_their_day_with_deterministic_ids() -> None:
    out = docs(NAMES.logs_nginx, ACCESS)
    assert [(d.index, d.id, d.item) for d in out] == [
        ("p.logs-nginx-2023.12.31", "p.logs.nginx-2-9-0", 0),
        ("p.logs-nginx-2024.01.01", "p.logs.nginx-2-9-1", 1),
    ]
    first, second = (orjson.loads(d.source) for d in out)
    assert first == {
        "@timestamp": "2023-12-31T23:59:59.000Z",
        "type": "access",
        "host": "host-a",
        "service": "nginx",
        "client_ip": "10.0.0.1",
        "status": 503,
        "status_class": "5xx",
        "bytes": 512,
        "method": "GET",
        "path": "/cart?id=1",
        "protocol": "HTTP/1.1",
        "remote_user": "alice",
        "agent": "curl/8.4",
        "request_time": 0.25,
        "upstream_time": 0.249,
        "tenant": "default",
        "log_id": "p.logs.nginx-2-9-0",
    }
    assert second["log_id"] == "p.logs.nginx-2-9-1"
    assert second["client_ip"] == "2001:db8::1"
    assert second["referrer"] == "https://x/"
    assert "remote_user" not in second


def test_error_entries_are_typed_and_classified() -> None:
    (doc,) = docs(NAMES.logs_nginx, ERROR)
    source = orjson.loads(doc.source)
    assert doc.index == "p.logs-nginx-2024.01.01"
    assert source["type"] == "error"
    assert source["category"] == "upstream_timeout"
    assert source["level"] == "error"
    assert source["client_ip"] == "10.1.2.3"
    assert (source["pid"], source["tid"], source["connection"]) == (12, 13, 3)
    assert source["vhost"] == "shop"


def test_app_logs_keep_extra_and_fall_back_to_the_kafka_time() -> None:
    value = orjson.dumps({"level": "warn", "service": "billing", "message": "slow", "ms": 900})
    (doc,) = docs(NAMES.logs_app, value)
    source = orjson.loads(doc.source)
    assert doc.index == "p.logs-app-2024.01.01"
    assert source == {
        "@timestamp": "2024-01-01T00:46:40.123Z",
        "host": "host-a",
        "service": "billing",
        "level": "warn",
        "message": "slow",
        "extra": {"ms": 900},
        "tenant": "default",
        "log_id": "p.logs.app-2-9-0",
    }


def test_every_document_carries_its_hosts_tenant() -> None:
    tenants = TenantMap("main", {"host-a": "acme"})
    mapper = EsMapper(NAMES, prefix="p.", tenants=tenants)
    for topic, value in [
        (NAMES.logs_nginx, ACCESS + b"\n" + ERROR),
        (NAMES.logs_app, b'{"message": "m"}'),
    ]:
        mapped = mapper(msg(topic, value))  # type: ignore[arg-type]
        assert mapped.payload
        assert {orjson.loads(d.source)["tenant"] for d in mapped.payload} == {"acme"}
    other = orjson.dumps({"host": "host-b", "message": "x"})  # the record's own host counts
    mapped = mapper(msg(NAMES.logs_app, other))  # type: ignore[arg-type]
    assert mapped.payload and orjson.loads(mapped.payload[0].source)["tenant"] == "main"
    assert "tenant" in app_mappings("elasticsearch")["properties"]


def test_undecodable_parts_are_skipped_and_other_topics_ignored() -> None:
    mapped = MAP(msg(NAMES.logs_nginx, b"this is not nginx"))  # type: ignore[arg-type]
    assert mapped.payload is None and mapped.skipped == 1 and not mapped.rejected
    assert MAP(msg(NAMES.metrics, b"cpu x=1")).payload is None  # type: ignore[arg-type]
    assert MAP.topics == (NAMES.logs_nginx, NAMES.logs_app)


def test_timestamp_and_range() -> None:
    assert timestamp(1_704_067_200.5) == ("2024-01-01T00:00:00.500Z", "2024.01.01")
    with pytest.raises(ValueError):
        timestamp(1e15)


def test_doc_of_a_record_without_optional_fields() -> None:
    rec = AccessLog(time=None, host="h", service="s", client_ip="::1", status=404, bytes=0)
    assert access_doc(rec, "T") == {
        "@timestamp": "T", "type": "access", "host": "h", "service": "s", "client_ip": "::1",
        "status": 404, "status_class": "4xx", "bytes": 0,
    }  # fmt: skip


def test_bulk_body_is_ndjson_with_index_actions() -> None:
    body = bulk_body([Doc("i1", "a", 0, b'{"x":1}'), Doc("i2", "b", 1, b'{"y":2}')])
    lines = body.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 5
    assert orjson.loads(lines[0]) == {"index": {"_index": "i1", "_id": "a"}}
    assert lines[1] == b'{"x":1}'
    assert doc_id("t", 1, 2, 3) == "t-1-2-3"


def test_bulk_outcome_sorts_stored_refused_and_retried_items() -> None:
    m1, m2 = Rec("t", 0, 1, None, b"one", 0), Rec("t", 0, 2, None, b"two", 0)
    d = [Doc("p.logs-nginx-2024.01.01", f"t-0-1-{i}", i, b"{}") for i in range(2)]
    e = [Doc("p.logs-app-2024.01.01", "t-0-2-0", 0, b"{}")]
    batch = Batch([Entry(m1, d), Entry(m2, e)])  # type: ignore[arg-type]
    items = [
        {"index": {"status": 201}},
        {"index": {"status": 400, "error": {"type": "mapper_parsing_exception",
                                            "reason": "failed to parse field [client_ip]"}}},
        {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
    ]  # fmt: skip
    result = bulk_outcome(batch, items, "p.")  # type: ignore[arg-type]
    assert result.written == {"logs-nginx": 1}
    assert [(r.msg.value, r.item) for r in result.rejected] == [(b"one", 1)]
    assert "mapper_parsing_exception" in result.rejected[0].detail
    assert result.retry is not None
    assert [(e.msg.value, e.payload) for e in result.retry.entries] == [(b"two", e)]
    assert result.retry_reason == "HTTP 429"


def test_index_prefix_and_pruning() -> None:
    assert index_prefix("") == ""
    assert index_prefix("Prod.") == "prod."
    assert index_prefix("_a b*") == "a-b-"
    names = [
        "p.logs-nginx-2024.01.03", "p.logs-nginx-2024.01.01", "p.logs-nginx-2024.01.02",
        "p.logs-app-2024.01.01", "q.logs-nginx-2023.01.01", "p.logs-nginx-notaday",
    ]  # fmt: skip
    assert indices_to_drop(names, "p.", "logs-nginx", 2) == ["p.logs-nginx-2024.01.01"]
    assert indices_to_drop(names, "p.", "logs-nginx", 5) == []
    assert indices_to_drop(names, "p.", "logs-app", 0) == ["p.logs-app-2024.01.01"]


@pytest.mark.parametrize(
    ("flavour", "extra"), [("elasticsearch", "flattened"), ("opensearch", "flat_object")]
)
def test_templates(flavour: str, extra: str) -> None:
    tpl = templates("p.", flavour)
    assert set(tpl) == {
        "p.lookout-logs-nginx",
        "p.lookout-logs-app",
        "p.lookout-incidents",
        "p.lookout-sink-markers",
    }
    assert tpl["p.lookout-logs-nginx"]["index_patterns"] == ["p.logs-nginx-*"]
    assert tpl["p.lookout-incidents"]["template"]["mappings"]["properties"]["@timestamp"] == {
        "type": "date"
    }
    props = nginx_mappings()["properties"]
    assert props["client_ip"] == {"type": "ip"}
    assert props["@timestamp"] == {"type": "date"}
    assert {
        props[k]["type"] for k in ("method", "path", "service", "host", "status_class", "level")
    } == {"keyword"}
    assert props["status"]["type"] == "short" and props["bytes"]["type"] == "long"
    assert props["request_time"]["type"] == "float"
    app = app_mappings(flavour)["properties"]
    assert app["extra"] == {"type": extra}
    assert app["message"] == {"type": "text"}
    assert {app[k]["type"] for k in ("level", "service", "host")} == {"keyword"}
    for mapped in (props, app):
        assert {mapped[k]["type"] for k in ("log_id", "tenant", "pattern_id")} == {"keyword"}


def test_marker_id() -> None:
    assert marker_id("g", TP0) == "g|t|0"


def test_bulk_chunks_bound_documents_and_bytes() -> None:
    from sinks.elasticsearch import chunks

    docs = [Doc("i", str(n), n, b"x" * 100) for n in range(10)]
    assert [len(c) for c in chunks(docs, 4, 10_000)] == [4, 4, 2]
    assert [len(c) for c in chunks(docs, 100, 300)] == [2, 2, 2, 2, 2]
    assert [len(c) for c in chunks(docs[:1], 100, 10)] == [1]  # one big doc still goes
    assert [d for c in chunks(docs, 3, 250) for d in c] == docs


def test_parts_with_invalid_utf8_are_stored_with_replacement_characters() -> None:
    app = b'{"level": "error", "service": "s", "message": "bad \xff byte"}\n{"message": "ok"}'
    out = [orjson.loads(d.source) for d in docs(NAMES.logs_app, app)]
    assert sorted(d["message"] for d in out) == ["bad \ufffd byte", "ok"]
    line = b'10.0.0.1 - - [01/Jan/2024:00:00:01 +0000] "GET /caf\xe9 HTTP/1.1" 200 5 "-" "c"'
    (doc,) = docs(NAMES.logs_nginx, line)
    source = orjson.loads(doc.source)
    assert source["path"] == "/caf\ufffd" and source["status"] == 200
    mapped = MAP(msg(NAMES.logs_app, b"\xff not json"))  # type: ignore[arg-type]
    assert mapped.payload is None and mapped.skipped == 1  # still not a record: skipped


def test_documents_carry_the_pattern_id_of_their_item_when_known() -> None:
    mapped = MAP(msg(NAMES.logs_nginx, ERROR + b"\n" + ERROR), {1: "p1"})  # type: ignore[arg-type]
    assert mapped.payload is not None
    sources = [orjson.loads(d.source) for d in mapped.payload]
    assert [s.get("pattern_id") for s in sources] == [None, "p1"]
    assert "pattern_id" not in orjson.loads(docs(NAMES.logs_nginx, ERROR)[0].source)
