"""Alert labels: Prometheus-style label matchers and the fingerprint of a label set (pure).

Matchers follow Prometheus: ``=``, ``!=``, ``=~``, ``!~``; regular expressions are fully
anchored (``host=~"web-.*"`` does not match ``my-web-1``); a label the series does not have
counts as the empty string (so ``path!="/boot"`` matches a series without ``path``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum


class MatchOp(StrEnum):
    """Label matcher operators (Prometheus / Alertmanager)."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class RuleInvalid(ValueError):
    """A rule is inconsistent; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, e.g. ``Matcher("host", MatchOp.RE, "web-.*")``."""

    label: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = dc_field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", MatchOp(self.op))
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                problem = f"bad regular expression {self.value!r}: {exc}"
                raise RuleInvalid(self.label, problem) from None

    @classmethod
    def parse(cls, label: str, spec: str) -> Matcher:
        """``"web-1"`` (equality), ``"=x"``, ``"!=x"``, ``"=~re"`` or ``"!~re"``."""
        for op in (MatchOp.RE, MatchOp.NRE, MatchOp.NE, MatchOp.EQ):
            if spec.startswith(op.value):
                return cls(label, op, spec[len(op.value) :])
        return cls(label, MatchOp.EQ, spec)

    def matches(self, value: str | None) -> bool:
        """True if the label value (None: the series lacks the label, taken as "") matches."""
        text = "" if value is None else value
        if self.op is MatchOp.EQ:
            return text == self.value
        if self.op is MatchOp.NE:
            return text != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(text) is not None
        return found if self.op is MatchOp.RE else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op.value}{json.dumps(self.value)}"


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """True if every matcher matches ``labels`` (an empty list matches everything)."""
    return all(m.matches(labels.get(m.label)) for m in matchers)


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit hash of a label set (order-independent, same in every process)."""
    canon = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]
