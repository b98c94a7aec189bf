"""Category of an nginx error-log message (pure, table-driven).

The first rule whose pattern occurs in the message wins, so the more specific rules come first
(an upstream ``SSL_do_handshake() failed`` is ``ssl``, not ``upstream_error``). Categories are the
``error_logs.category`` values of migration 0001.
"""

from __future__ import annotations

import re

CATEGORIES = (
    "upstream_timeout",
    "connection_refused",
    "file_not_found",
    "permission_denied",
    "client_closed",
    "upstream_error",
    "ssl",
    "limit",
    "other",
)

RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern, re.IGNORECASE))
    for category, pattern in (
        ("ssl", r"\bSSL_|\bSSL:|\bssl handshak|\bcertificate\b"),
        ("limit", r"limiting (requests|connections)|too large body|worker_connections are not "
                  r"enough|too many open files|\(24: |exceeded (the )?limit"),
        ("upstream_timeout", r"upstream timed out|\(110: connection timed out\) while "
                             r"(connecting to|reading response header from|reading|sending "
                             r"request to) upstream"),
        ("connection_refused", r"\(111: connection refused\)|connection refused"),
        ("file_not_found", r"\(2: no such file or directory\)|\bis not found\b|"
                           r"\(20: not a directory\)"),
        ("permission_denied", r"\(13: permission denied\)|\bis forbidden\b|access forbidden"),
        ("client_closed", r"client (prematurely )?closed|client timed out|while reading client "
                          r"request|while sending (response )?to client"),
        ("upstream_error", r"upstream (prematurely closed|sent|returned)|no live "
                           r"upstreams|could not be resolved|no resolver defined|"
                           r"\((104|112|113): [a-z ]+\)|failed .{0,80}while (connecting to|"
                           r"reading response header from|reading|sending request to) upstream"),
    )
)  # fmt: skip


def classify(message: str) -> str:
    """Category of ``message``: one of :data:`CATEGORIES` (``other`` when no rule matches)."""
    for category, pattern in RULES:
        if pattern.search(message):
            return category
    return "other"
