"""Request bodies of the alerting API, checked strictly (pure): ack and silence.

The pydantic models are the one definition of each body: the API checks a body with them and
the OpenAPI document shows their JSON schema. :func:`ack_from` and :func:`silence_from` take the
decoded JSON object and return the values, or raise ValueError with a message that names the
field and what it must be (answered as 400 by the API).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from alerting.labels import Matcher
from alerting.silences import Silence

MAX_NAME = 200
MAX_COMMENT = 2000
# strings are stripped before their limits apply; numbers are numbers (not text, not booleans)
STRICT = ConfigDict(strict=True, str_strip_whitespace=True, allow_inf_nan=False)

Name = Annotated[str, Field(pattern=r"\S", max_length=MAX_NAME)]
Comment = Annotated[str | None, Field(max_length=MAX_COMMENT)]
Seconds = float | None
M = TypeVar("M", bound=BaseModel)

MUST = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must not be blank",
    "float_type": "must be a number of seconds",
    "finite_number": "must be a finite number of seconds",
    "greater_than": "must be more than {gt:g} seconds",
}


class Ack(BaseModel):
    """Body of POST /api/alerts/{fingerprint}/ack: who acknowledges, and why."""

    model_config = STRICT

    by: Name
    comment: Comment = None


class NewSilence(BaseModel):
    """Body of POST /api/silences: matchers, and ends_at or duration."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={"anyOf": [{"required": ["duration"]}, {"required": ["ends_at"]}]},
    )

    matchers: dict[Annotated[str, Field(min_length=1)], str] = Field(
        min_length=1, description="label: value; a value may start with =, !=, =~ or !~"
    )
    duration: Seconds = Field(None, gt=0, description="seconds from starts_at (or give ends_at)")
    ends_at: Seconds = Field(None, description="epoch seconds, after starts_at")
    starts_at: Seconds = Field(None, description="epoch seconds (default: now)")
    created_by: Name
    comment: Comment = None
    id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{0,64}$", description="empty or absent: a new random id"
    )


def problem(error: ErrorDetails) -> str:
    """The message of a pydantic error: the field and what it must be."""
    field, *inner = error["loc"]
    if field == "matchers":
        if inner:
            return f"'matchers': {inner[0]!r} must map a label name to a string"
        return "'matchers' must be a non-empty object of label: value (or =x, !=x, =~re, !~re)"
    if field == "id" and error["type"] == "string_pattern_mismatch":
        return "'id' must be 1 to 64 letters, digits, '_', '.' or '-'"
    must = MUST.get(error["type"], "is not valid")
    return f"'{field}' {must.format(**error.get('ctx', {}))}"


def checked(model: type[M], doc: Mapping[str, Any]) -> M:
    """``doc`` as ``model``; ValueError naming the first wrong field."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ValueError(problem(exc.errors()[0])) from None


def ack_from(doc: Mapping[str, Any]) -> tuple[str, str]:
    """``(by, comment)`` of an ack body ``{"by": "ann", "comment": "on it"}``."""
    ack = checked(Ack, doc)
    return ack.by, ack.comment or ""


def silence_from(doc: Mapping[str, Any], now: float) -> Silence:
    """A silence from an API body: matchers {label: spec}, and ends_at or duration (s)."""
    body = checked(NewSilence, doc)
    matchers = tuple(Matcher.parse(label, spec) for label, spec in body.matchers.items())
    starts = now if body.starts_at is None else body.starts_at
    ends = body.ends_at
    if ends is None:
        if body.duration is None:
            raise ValueError("give 'ends_at' (epoch seconds) or 'duration' (seconds)")
        ends = starts + body.duration
    if not math.isfinite(ends):
        raise ValueError("'duration' is too large")
    return Silence(
        id=body.id or uuid.uuid4().hex[:12],
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by=body.created_by,
        comment=body.comment or "",
    )
