"""grafana/macros.py and grafana/es_request.py against Grafana's documented expansions.

Expected strings follow Grafana's PostgreSQL macro engine (``macros.go``), its SQL global
substitutions (``sqleng``), its variable formats (``sqlstring``, ``lucene``) and the
Elasticsearch backend's request builder (``data_query.go``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grafana.es_request import search_body
from grafana.macros import (
    MacroError,
    TimeRange,
    expand_sql,
    expand_variables,
    format_value,
    lucene_escape,
    round_interval_ms,
    variable_names,
)

# 2017-04-21T05:01:17Z .. 05:06:17Z, the range of Grafana's documentation examples.
START = datetime(2017, 4, 21, 5, 1, 17, tzinfo=UTC)
END = datetime(2017, 4, 21, 5, 6, 17, tzinfo=UTC)
TR = TimeRange(START, END, interval_ms=300_000)


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("$__time(dateColumn)", 'dateColumn AS "time"'),
        ("$__timeEpoch(dateColumn)", 'extract(epoch from dateColumn) as "time"'),
        (
            "$__timeFilter(dateColumn)",
            "dateColumn BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'",
        ),
        ("$__timeFrom()", "'2017-04-21T05:01:17Z'"),
        ("$__timeTo()", "'2017-04-21T05:06:17Z'"),
        ("$__timeGroup(dateColumn,'5m')", "floor(extract(epoch from dateColumn)/300)*300"),
        ("$__timeGroup(dateColumn, '5m', 0)", "floor(extract(epoch from dateColumn)/300)*300"),
        (
            "$__timeGroupAlias(dateColumn,'5m')",
            'floor(extract(epoch from dateColumn)/300)*300 AS "time"',
        ),
        (
            "$__timeGroupAlias(t.c, $__interval)",
            'floor(extract(epoch from t.c)/300)*300 AS "time"',
        ),
        ("$__unixEpochFilter(c)", "c >= 1492750877 AND c <= 1492751177"),
        ("$__unixEpochGroup(c,'500ms')", "floor((c)/0.5)*0.5"),
        ("$__unixEpochFrom() $__unixEpochTo()", "1492750877 1492751177"),
        ("$__interval $__interval_ms", "5m 300000"),
        # pre-5.3 form: a comma right after $__timeGroup(...) adds the alias
        (
            "SELECT $__timeGroup(c,'1h'), v",
            'SELECT floor(extract(epoch from c)/3600)*3600 AS "time", v',
        ),
    ],
)
def test_postgres_macros(sql: str, expanded: str) -> None:
    assert expand_sql(sql, TR, {}) == expanded


def test_fractional_seconds_and_unknown_macros() -> None:
    tr = TimeRange(START.replace(microsecond=250_000), END, interval_ms=1000)
    assert expand_sql("$__timeFrom()", tr, {}) == "'2017-04-21T05:01:17.25Z'"
    with pytest.raises(MacroError, match="unknown macro"):
        expand_sql("$__nope(x)", tr, {})
    with pytest.raises(MacroError, match="missing time column"):
        expand_sql("$__timeFilter()", tr, {})
    with pytest.raises(MacroError, match="needs time column and interval"):
        expand_sql("$__timeGroup(c)", tr, {})


@pytest.mark.parametrize(
    ("value", "fmt", "out"),
    [
        (["a", "b'c"], "sqlstring", "'a','b''c'"),
        ("a", "sqlstring", "'a'"),
        (["host-1", "x y"], "lucene", '("host\\-1" OR "x\\ y")'),
        (["host-1"], "lucene", '("host\\-1")'),
        ("host-1", "lucene", "host\\-1"),
        ([], "lucene", "__empty__"),
        (["a", "b"], "csv", "a,b"),
        (["a", "b"], "pipe", "a|b"),
    ],
)
def test_variable_formats(value: list[str] | str, fmt: str, out: str) -> None:
    assert format_value(value, fmt) == out


def test_lucene_escape_covers_the_special_characters() -> None:
    assert lucene_escape('a+b-c=d&e|f>g<h!i(j)k{l}m[n]o^p"q~r*s?t:u\\v/w x') == (
        'a\\+b\\-c\\=d\\&e\\|f\\>g\\<h\\!i\\(j\\)k\\{l\\}m\\[n\\]o\\^p\\"q\\~r\\*s\\?t\\:u'
        "\\\\v\\/w\\ x"
    )


def test_variables_in_every_syntax_and_the_sql_default() -> None:
    values = {"host": ["h1", "h2"], "one": "x"}
    sql = "$host ${host} [[host]] ${host:csv} [[host:pipe]] $one $__interval"
    assert expand_variables(sql, values, default="sql") == (
        "'h1','h2' 'h1','h2' 'h1','h2' h1,h2 h1|h2 x $__interval"
    )
    assert expand_variables("$host", values, default="lucene") == '("h1" OR "h2")'
    assert variable_names(sql) == {"host", "one"}
    with pytest.raises(MacroError, match=r"\$missing is not defined"):
        expand_variables("a = $missing", values, default="sql")


def test_variables_come_before_macros() -> None:
    sql = "$__timeFilter(t) AND host IN (${host:sqlstring})"
    assert expand_sql(sql, TR, {"host": ["a"]}) == (
        "t BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z' AND host IN ('a')"
    )


@pytest.mark.parametrize(
    ("raw_ms", "nice"),
    [(9, 10), (700, 500), (1_200, 1_000), (12_000, 10_000), (21_600, 20_000), (100_000, 120_000)],
)
def test_round_interval(raw_ms: float, nice: int) -> None:
    assert round_interval_ms(raw_ms) == nice


def test_interval_from_range_points_and_minimum() -> None:
    six_hours = datetime(2017, 4, 21, 11, 1, 17, tzinfo=UTC)
    assert TimeRange.of(START, six_hours).interval_text == "20s"  # 21.6 s -> 20 s
    assert TimeRange.of(START, END, min_interval="10s").interval_text == "10s"
    assert TimeRange.of(START, END).interval_ms == 200  # 300 ms -> 200 ms
    with pytest.raises(MacroError, match="not a Grafana duration"):
        TimeRange.of(START, END, min_interval="ten")


def test_es_time_series_request() -> None:
    target = {
        "query": "type:access AND host:${host:lucene}",
        "metrics": [
            {"id": "1", "type": "count"},
            {"id": "4", "type": "percentiles", "field": "t", "settings": {"percents": ["95"]}},
        ],
        "bucketAggs": [
            {
                "id": "2",
                "type": "terms",
                "field": "status_class",
                "settings": {"size": "10", "order": "asc", "orderBy": "_key", "min_doc_count": "1"},
            },
            {
                "id": "3",
                "type": "date_histogram",
                "field": "@timestamp",
                "settings": {"interval": "auto"},
            },
        ],
    }
    body = search_body(target, TR, {"host": ["h-1", "h2"]})
    assert body["size"] == 0
    assert body["query"]["bool"]["filter"] == [
        {"range": {"@timestamp": {"gte": TR.from_ms, "lte": TR.to_ms, "format": "epoch_millis"}}},
        {
            "query_string": {
                "analyze_wildcard": True,
                "query": 'type:access AND host:("h\\-1" OR "h2")',
            }
        },
    ]
    terms = body["aggs"]["2"]
    assert terms["terms"] == {
        "field": "status_class",
        "size": 10,
        "min_doc_count": 1,
        "order": {"_key": "asc"},
    }
    histogram = terms["aggs"]["3"]
    assert histogram["date_histogram"] == {
        "field": "@timestamp",
        "fixed_interval": "300000ms",
        "min_doc_count": 0,
        "extended_bounds": {"min": TR.from_ms, "max": TR.to_ms},
        "format": "epoch_millis",
    }
    assert histogram["aggs"] == {"4": {"percentiles": {"percents": ["95"], "field": "t"}}}


def test_es_terms_ordered_by_a_metric_and_by_count() -> None:
    metrics = [{"id": "1", "type": "count"}, {"id": "5", "type": "sum", "field": "bytes"}]
    by_sum = {"field": "ip", "id": "2", "type": "terms", "settings": {"orderBy": "5"}}
    body = search_body({"query": "", "metrics": metrics, "bucketAggs": [by_sum]}, TR, {})
    assert body["query"]["bool"]["filter"][1:] == []  # an empty query adds no query_string
    assert body["aggs"]["2"]["terms"] == {"field": "ip", "size": 500, "order": {"5": "desc"}}
    assert body["aggs"]["2"]["aggs"] == {"5": {"sum": {"field": "bytes"}}}
    by_count = {**by_sum, "settings": {"orderBy": "1", "order": "asc", "size": "3"}}
    body = search_body({"metrics": metrics, "bucketAggs": [by_count]}, TR, {})
    assert body["aggs"]["2"]["terms"]["order"] == {"_count": "asc"}
    assert body["aggs"]["2"]["terms"]["size"] == 3


def test_es_logs_request() -> None:
    target = {"query": "level:error", "metrics": [{"id": "1", "type": "logs"}], "bucketAggs": []}
    body = search_body(target, TR, {}, time_field="ts")
    assert body["size"] == 500
    assert list(body["sort"]) == ["ts", "_doc"]
    assert body["sort"]["ts"] == {"order": "desc", "unmapped_type": "boolean"}
    assert body["docvalue_fields"] == ["ts"]
    assert body["highlight"]["pre_tags"] == ["@HIGHLIGHT@"]
    assert body["aggs"]["1"]["date_histogram"]["field"] == "ts"
    with pytest.raises(ValueError, match="needs at least one bucket"):
        search_body({"metrics": [{"id": "1", "type": "count"}], "bucketAggs": []}, TR, {})
