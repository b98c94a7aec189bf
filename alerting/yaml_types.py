"""Field types of the YAML files (rules, notify): durations, fractions, label texts.

Each is a pydantic ``Annotated`` type whose ``BeforeValidator`` accepts what a person writes
(``5m``, ``30%``, ``port: 8080``) and raises ``ValueError`` with the expected form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or text like ``90``, ``90s``, ``5m``, ``1h``, ``1m30s``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 60s, 5m or 1h (given {value!r})")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        m = _DURATION.match(text)
        if not text or m is None or not any(m.groups()):
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"expected a duration like 60s, 5m, 1h or 1m30s (given {value!r})"
                ) from None
        else:
            h, mins, s = (float(g) if g else 0.0 for g in m.groups())
            seconds = h * 3600 + mins * 60 + s
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be >= 0 (given {value!r})")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def parse_fraction(value: Any) -> Any:
    """``0.3`` or ``"30%"`` as 0.3; anything else is left to the number check."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"expected a fraction like 0.3 or 30% (given {value!r})") from None
    return value


Fraction = Annotated[float, BeforeValidator(parse_fraction)]


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def label_texts(value: Any) -> Any:
    """YAML scalars as label text (``port: 8080`` means "8080"); other shapes fail later."""
    if isinstance(value, Mapping):
        return {k: _text(v) for k, v in value.items()}
    return value


Labels = Annotated[dict[str, str], BeforeValidator(label_texts)]
