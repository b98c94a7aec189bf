"""The live tail's filter, the caller's tenants in every filter, and the tail's event ids."""

from __future__ import annotations

import pytest

from logsearch.match import matches, text_query
from logsearch.params import BadParam, parse_tail, scoped
from logsearch.positions import event_id, parse_event_id
from logsearch.query import MATCH_NOTHING, bool_query

DOC = {"service": "api", "level": "error", "host": "h1", "message": "Payment refused for user3"}


@pytest.mark.parametrize(
    ("params", "family", "expect"),
    [
        ({}, "app", True),
        ({"source": ["nginx"]}, "app", False),
        ({"level": ["warn,error"]}, "app", True),
        ({"level": ["warn"]}, "app", False),
        ({"tenant": ["acme"]}, "app", False),  # a document without the field never matches
        ({"q": ["payment user3"]}, "app", True),
        ({"q": ["PAYMENT +refused"]}, "app", True),
        ({"q": ["payment -user3"]}, "app", False),
        ({"q": ['"refused for"']}, "app", True),
        ({"q": ['"for refused"']}, "app", False),
        ({"q": ["timeout"]}, "app", False),
        ({"q": ["api"], "host": ["h1"]}, "app", True),
    ],
)
def test_matches(params: dict[str, list[str]], family: str, expect: bool) -> None:
    flt = parse_tail(params, 0.0)
    assert matches(DOC, family, flt, text_query(flt.q)) is expect


def test_event_ids_round_trip_and_bad_ones_name_the_header() -> None:
    positions = {("logs.app", 1): 7, ("logs.nginx", 0): 3, ("p.logs.app", 0): 0}
    raw = event_id(positions)
    assert raw == "logs.app/1/7,logs.nginx/0/3,p.logs.app/0/0"
    assert parse_event_id(raw, {"logs.app", "logs.nginx", "p.logs.app"}) == positions
    for bad in ["x", "logs.app/1", "logs.app/a/1", "other/0/1", "logs.app/0/-1", "a" * 9000]:
        with pytest.raises(BadParam) as err:
            parse_event_id(bad, {"logs.app", "logs.nginx"})
        assert err.value.param == "Last-Event-ID"


@pytest.mark.parametrize(
    ("readable", "asked", "allowed"),
    [
        (None, [], None),  # a server admin (or sign-in off): nothing added
        (None, ["b"], ("b",)),
        ({"a", "b"}, [], ("a", "b")),
        ({"a", "b"}, ["b"], ("b",)),
        ({"a", "b"}, ["b,c"], ("b",)),
        ({"a"}, ["b"], ()),  # another tenant's logs: nothing, never an error
        (set(), [], ()),
    ],
)
def test_a_callers_tenants_scope_every_filter(
    readable: set[str] | None, asked: list[str], allowed: tuple[str, ...] | None
) -> None:
    flt = scoped(parse_tail({"tenant": asked} if asked else {}, 0.0), readable)
    assert dict(flt.terms).get("tenant") == allowed
    docs = [dict(DOC, tenant=t) for t in ("a", "b", "c")]
    seen = [d["tenant"] for d in docs if matches(d, "app", flt, text_query(""))]
    assert seen == (sorted(allowed) if allowed is not None else ["a", "b", "c"])
    filters = bool_query(flt, 0.0, 1.0)["bool"]["filter"]
    if allowed == ():
        assert MATCH_NOTHING in filters
    elif allowed is not None:
        assert {"terms": {"tenant": list(allowed)}} in filters
