"""Search and statistics bodies (no offsets, search_after, lenient text) and their answers."""

from __future__ import annotations

from itertools import pairwise

from logsearch.params import parse_search, parse_stats
from logsearch.query import (
    count_body,
    entry,
    last_sort,
    page_span,
    search_body,
    stats_answer,
    stats_body,
    time_slices,
)

NOW = 1_765_108_800.0  # 2025-12-07T12:00:00Z


def test_first_and_later_pages() -> None:
    req = parse_search({"q": ["refused"], "level": ["error"], "limit": ["10"]}, NOW)
    first = search_body(req, *page_span(req.filter.start, req.filter.end, None), None)
    assert first["size"] == 10 and "from" not in first and "search_after" not in first
    assert first["track_total_hits"] is False  # counted by its own request
    assert first["sort"] == [{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}]
    (text,) = first["query"]["bool"]["must"]
    assert text["simple_query_string"]["lenient"] is True
    assert {"terms": {"level": ["error"]}} in first["query"]["bool"]["filter"]
    assert "message" in first["highlight"]["fields"]
    later = search_body(req, *page_span(1.0, 2.0, (1500, "x")), (1500, "x"), size=4)
    assert later["search_after"] == [1500, "x"] and later["track_total_hits"] is False
    assert later["size"] == 4
    assert later["query"]["bool"]["filter"][0]["range"]["@timestamp"] == {
        "gte": 1000,
        "lt": 1501,  # nothing after the cursor is newer than its millisecond
        "format": "epoch_millis",
    }
    count = count_body(req.filter, 1.0, 2.0)
    assert count["size"] == 0 and count["track_total_hits"] == 10_000 and "sort" not in count
    plain = parse_search({}, NOW)
    body = search_body(plain, 1000, 2000, None)
    assert "must" not in body["query"]["bool"] and "highlight" not in body


def test_time_slices_cover_the_span_newest_first() -> None:
    hour = 3_600_000
    slices = list(time_slices(0, 8 * hour))
    assert slices == [(7 * hour, 8 * hour), (3 * hour, 7 * hour), (0, 3 * hour)]
    assert list(time_slices(0, 1000)) == [(0, 1000)]  # at least a minute: one slice
    assert list(time_slices(5, 5)) == []
    many = list(time_slices(0, 1000 * hour, growth=1, most=5))  # 125 h each, then the rest
    assert many[0] == (875 * hour, 1000 * hour) and many[-1] == (0, 500 * hour)
    assert len(many) == 5
    assert all(a[0] == b[1] for a, b in pairwise(many))


def test_entries_and_the_next_page() -> None:
    hit = {"_id": "a", "_index": "i", "_source": {"@timestamp": "T", "m": 1}, "sort": [5, "a"]}
    assert entry(hit) == {
        "id": "a",
        "time": "T",
        "index": "i",
        "doc": hit["_source"],
        "highlight": {},
    }
    assert last_sort([hit]) == (5, "a") and last_sort([]) is None


def test_stats_buckets_split_and_rest() -> None:
    req = parse_stats(
        {
            "from": ["2025-12-07T12:00:00Z"],
            "to": ["2025-12-07T12:03:00Z"],
            "top": ["1"],
            "interval": ["1m"],
        },
        NOW,
    )
    body = stats_body(req)
    histogram = body["aggs"]["over_time"]["date_histogram"]
    assert histogram["fixed_interval"] == "60s" and histogram["min_doc_count"] == 0
    assert body["aggs"]["top"]["terms"] == {"field": "level", "size": 1, "missing": "(none)"}
    t0 = int(req.filter.start * 1000)
    answer = {
        "hits": {"total": {"value": 7, "relation": "eq"}},
        "aggregations": {
            "top": {"buckets": [{"key": "info", "doc_count": 5}]},
            "over_time": {
                "buckets": [
                    {
                        "key": t0,
                        "doc_count": 4,
                        "split": {
                            "buckets": [
                                {"key": "info", "doc_count": 3},
                                {"key": "error", "doc_count": 1},
                            ]
                        },
                    },
                    {
                        "key": t0 + 60_000,
                        "doc_count": 3,
                        "split": {
                            "buckets": [
                                {"key": "error", "doc_count": 1},
                                {"key": "info", "doc_count": 2},
                            ]
                        },
                    },
                    {"key": t0 + 180_000, "doc_count": 0, "split": {"buckets": []}},
                ]
            },
        },
    }
    out = stats_answer(req, answer)
    assert out["total"] == 7 and out["top"] == [{"key": "info", "count": 5}]
    assert [b["by"] for b in out["buckets"]] == [
        {"info": 3, "(other)": 1},
        {"info": 2, "(other)": 1},
    ]  # the bucket at the range's end is left out
    assert out["buckets"][0]["time"] == "2025-12-07T12:00:00.000Z"
