"""Wording of configuration errors: where (a location path), what, and a did-you-mean hint.

Pure (standard library only). The settings, the rules YAML and the notify file turn the error
dicts of a pydantic ``ValidationError.errors()`` into messages with these, so one kind of
mistake reads the same in each.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# pydantic error types said in plain words by describe_plainly
TYPE_HINTS = {
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping (NAME: VALUE)",
}


def closest(given: str, known: Iterable[str]) -> str | None:
    """The name in ``known`` most like ``given`` (difflib), or None when none is close."""
    close = difflib.get_close_matches(given, list(known), n=1)
    return close[0] if close else None


def unknown_hint(given: str, known: Sequence[str]) -> str:
    """``did you mean 'x'?`` for a close name, else ``known: a, b, c`` (in the order given)."""
    close = closest(given, known)
    return f"did you mean '{close}'?" if close else "known: " + ", ".join(known)


def location(loc: Iterable[Any], prefix: str = "", renames: Mapping[str, str] | None = None) -> str:
    """A pydantic error location as a path after ``prefix``: ``route.routes[0].receiver``.

    ``renames`` maps a Python field name to the name written in the file (``continue_``).
    """
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part) if renames is None else renames.get(str(part), str(part))
            out += f".{name}" if out else name
    return out


def value_message(err: Mapping[str, Any]) -> str:
    """pydantic's message, without the ``Value error, `` it puts before a validator's text."""
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def describe(err: Mapping[str, Any], known: Sequence[str] = (), *, echo_input: bool = True) -> str:
    """The problem one pydantic error names, with the fix where there is one.

    An unknown field gets a did-you-mean among ``known`` (the model's field names), a missing
    one "required: add it", anything else pydantic's message and the value given, unless
    ``echo_input`` is off (the input may hold a secret) or the message already shows it.
    """
    kind = err.get("type", "")
    loc = tuple(err.get("loc") or ())
    if kind == "extra_forbidden":
        return f"unknown field ({unknown_hint(str(loc[-1]) if loc else '', known)})"
    if kind == "missing":
        return "required: add it"
    msg = value_message(err)
    if not echo_input or not loc or "given" in msg:
        return msg
    return f"{msg} (given {err.get('input')!r})"


def describe_plainly(err: Mapping[str, Any], known: Sequence[str] = ()) -> str:
    """:func:`describe`, with a choice among literals (and a did-you-mean) and type errors
    in plain words (``must be a number (given 'x')``); the value given is always shown."""
    kind = err.get("type", "")
    given = err.get("input")
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", ""))
        close = closest(str(given), re.findall(r"'([^']*)'", expected))
        hint = f"; did you mean '{close}'?" if close else ""
        return f"must be {expected} (given {given!r}{hint})"
    if kind in TYPE_HINTS:
        return f"{TYPE_HINTS[kind]} (given {given!r})"
    return describe(err, known)
