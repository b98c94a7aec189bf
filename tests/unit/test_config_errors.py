"""Wording of configuration errors (app/config_errors.py), on pydantic error dicts."""

from __future__ import annotations

from typing import Any

import pytest

from app.config_errors import closest, describe, describe_plainly, location, unknown_hint


def test_closest_names_the_nearest_known_name_or_none() -> None:
    assert closest("recevier", ["receiver", "routes"]) == "receiver"
    assert closest("zzz", ["receiver", "routes"]) is None


def test_unknown_hint_lists_the_known_names_when_none_is_close() -> None:
    assert unknown_hint("equals", ["equal", "source_match"]) == "did you mean 'equal'?"
    assert unknown_hint("zzz", ["b", "a"]) == "known: b, a"


@pytest.mark.parametrize(
    ("loc", "prefix", "path"),
    [
        (("routes", 0, "receiver"), "route", "route.routes[0].receiver"),
        (("match", "host"), "", "match.host"),
        ((), "retry", "retry"),
        (("continue_",), "route.routes[1]", "route.routes[1].continue"),
    ],
)
def test_location_renders_a_path(loc: tuple[Any, ...], prefix: str, path: str) -> None:
    assert location(loc, prefix, {"continue_": "continue"}) == path


@pytest.mark.parametrize(
    ("err", "echo", "message"),
    [
        (
            {"type": "extra_forbidden", "loc": ("thresold",)},
            True,
            "unknown field (did you mean 'threshold'?)",
        ),
        ({"type": "missing", "loc": ("name",)}, True, "required: add it"),
        (
            {"type": "value_error", "loc": ("x",), "msg": "Value error, too big", "input": 5},
            True,
            "too big (given 5)",
        ),
        (
            {
                "type": "value_error",
                "loc": ("x",),
                "msg": "Value error, too big",
                "input": "s3cr3t",
            },
            False,
            "too big",
        ),
        ({"type": "value_error", "loc": (), "msg": "Value error, a: b", "input": {}}, True, "a: b"),
    ],
)
def test_describe(err: dict[str, Any], echo: bool, message: str) -> None:
    assert describe(err, ["name", "threshold"], echo_input=echo) == message


def test_describe_plainly_words_literals_and_types() -> None:
    literal = {
        "type": "literal_error",
        "loc": ("window",),
        "input": "hoping",
        "ctx": {"expected": "'tumbling' or 'hopping'"},
    }
    assert describe_plainly(literal) == (
        "must be 'tumbling' or 'hopping' (given 'hoping'; did you mean 'hopping'?)"
    )
    number = {"type": "float_parsing", "loc": ("threshold",), "input": "high"}
    assert describe_plainly(number) == "must be a number (given 'high')"
