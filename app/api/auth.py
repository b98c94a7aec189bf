"""Bearer-token and API-key checks for the HTTP API, in constant time (the one place for both).

Write endpoints (ack, silences, rule reload) take ``Authorization: Bearer LOOKOUT_API_TOKEN``;
ingest takes ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` with a key from
LOOKOUT_INGEST_KEYS. Both hash the presented and the configured value with SHA-256 before
``hmac.compare_digest``, so neither the content nor the length of a key leaks through timing,
and every configured key is compared on every request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import SecretStr


class Denied(StrEnum):
    """Why a request was refused (a label for counters and the error message)."""

    DISABLED = "disabled"
    MISSING = "missing"
    WRONG = "wrong"


def _raw(secret: SecretStr | str | None) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")


def parse_keys(secret: SecretStr | str | None) -> tuple[bytes, ...]:
    """The keys of a comma list (LOOKOUT_INGEST_KEYS), blanks dropped."""
    return tuple(k.strip().encode() for k in _raw(secret).split(",") if k.strip())


def single_key(secret: SecretStr | str | None) -> tuple[bytes, ...]:
    """One key (LOOKOUT_API_TOKEN, commas and all), or none when unset or blank."""
    raw = _raw(secret).strip()
    return (raw.encode(),) if raw else ()


def presented_key(headers: Mapping[str, str], *, api_key_header: bool = False) -> str | None:
    """The credential a request carries: ``Authorization: Bearer X`` (or ``X-API-Key: X``)."""
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    if api_key_header:
        key = headers.get("X-API-Key", "").strip()
        return key or None
    return None


def key_index(presented: str | None, keys: Sequence[bytes]) -> int | None:
    """Index of the key equal to ``presented`` (every key compared, in constant time), or None."""
    if not presented:
        return None
    given = hashlib.sha256(presented.encode()).digest()
    found = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(given, hashlib.sha256(key).digest()):
            found = i
    return found


def check(
    keys: Sequence[bytes], headers: Mapping[str, str], *, api_key_header: bool = False
) -> tuple[int | None, Denied | None]:
    """``(index of the matching key, None)``, or ``(None, why it is refused)``."""
    if not keys:
        return None, Denied.DISABLED
    presented = presented_key(headers, api_key_header=api_key_header)
    if presented is None:
        return None, Denied.MISSING
    idx = key_index(presented, keys)
    return (idx, None) if idx is not None else (None, Denied.WRONG)


def token_ok(expected: str | None, headers: Mapping[str, str]) -> bool:
    """True when ``headers`` carry ``Authorization: Bearer <expected>``."""
    idx, _ = check(single_key(expected), headers)
    return idx is not None
