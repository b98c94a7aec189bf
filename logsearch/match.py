"""The live tail's filter: does one log document match a :class:`LogFilter`? (pure)

Field filters match as in search (exact values, ORed per filter, ANDed across filters). The free
text is matched more simply than Elasticsearch's ``simple_query_string`` does: every word of the
query (operators ``+ - | * ( ) ~ "`` dropped, ``-word`` excluded) must occur, case-insensitively,
in the document's text fields. The tail has no index to analyse text with; this keeps it cheap
and predictable, and the README says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from logsearch.params import LogFilter
from logsearch.query import TEXT_FIELDS

_WORD = re.compile(r'(-?)"([^"]*)"|(-?)([^\s"]+)')
_OPERATORS = str.maketrans("", "", '+|*()~"')


@dataclass(frozen=True)
class TextQuery:
    """Words that must occur and words that must not."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]


def text_query(q: str) -> TextQuery:
    """The words of a free-text query, lower-cased (phrases kept whole)."""
    include: list[str] = []
    exclude: list[str] = []
    for neg_phrase, phrase, neg_word, word in _WORD.findall(q):
        negative = bool(neg_phrase or neg_word)
        text = (phrase if phrase else word).translate(_OPERATORS).strip().lower()
        if not text or text in ("and", "or", "not"):
            continue
        (exclude if negative else include).append(text)
    return TextQuery(tuple(include), tuple(exclude))


def doc_text(doc: Mapping[str, Any]) -> str:
    """The text fields of a document, lower-cased and joined."""
    return "\n".join(str(doc[f]) for f in TEXT_FIELDS if doc.get(f) is not None).lower()


def matches(doc: Mapping[str, Any], family: str, flt: LogFilter, text: TextQuery) -> bool:
    """True if the document (of source ``family``: nginx or app) passes the filter."""
    if family not in flt.sources:
        return False
    for name, values in flt.terms:
        value = doc.get(name)
        if value is None or str(value) not in values:
            return False
    if not text.include and not text.exclude:
        return True
    haystack = doc_text(doc)
    return all(w in haystack for w in text.include) and not any(w in haystack for w in text.exclude)
