"""Opaque, tamper-evident page cursors (pure).

A cursor is ``base64url(JSON).base64url(HMAC-SHA256)``; the JSON holds the sort values of the
page's last hit (``search_after``: time in ms, log id), the resolved time range (so a relative
``from=-15m`` keeps meaning the same window on every page) and the fingerprint of the query's
parameters. A cursor that was altered, signed with another key, or made for other parameters is
refused with :class:`~logsearch.params.BadParam` naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from logsearch.params import BadParam

VERSION = 1
MAX_CURSOR = 2048


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts and which query it belongs to."""

    after: tuple[int, str]
    start: float
    end: float
    fingerprint: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


def encode_cursor(cursor: Cursor, key: bytes) -> str:
    """The token of ``cursor``, signed with ``key``."""
    body = {
        "v": VERSION,
        "a": list(cursor.after),
        "w": [cursor.start, cursor.end],
        "f": cursor.fingerprint,
    }
    payload = json.dumps(body, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_sign(key, payload))}"


def decode_cursor(token: str, key: bytes, fingerprint: str) -> Cursor:
    """The cursor in ``token``; BadParam("cursor") if tampered with or made for another query."""
    bad = BadParam("cursor", "not a cursor of this server (altered, expired key or truncated)")
    if len(token) > MAX_CURSOR or token.count(".") != 1:
        raise bad
    body_part, mac_part = token.split(".")
    try:
        payload, mac = _unb64(body_part), _unb64(mac_part)
    except (binascii.Error, ValueError):
        raise bad from None
    if not hmac.compare_digest(mac, _sign(key, payload)):
        raise bad
    try:
        body = json.loads(payload)
        when, log_id = body["a"]
        start, end = body["w"]
        cursor = Cursor((int(when), str(log_id)), float(start), float(end), str(body["f"]))
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if body.get("v") != VERSION:
        raise bad
    if cursor.fingerprint != fingerprint:
        raise BadParam("cursor", "belongs to another query: keep q, from, to and filters")
    return cursor
