"""Masking: a log message becomes tokens with its variable parts replaced by typed slots (pure).

Quoted strings (``"..."`` always, ``'...'`` between word boundaries) become ``<STR>`` first;
then the message is split on whitespace and each token is masked on its own, its leading and
trailing punctuation kept (``(110:`` -> ``(<NUM>:``, ``10.0.0.1,`` -> ``<IP>,``), the value of a
``key=value`` token masked alone (``user_id=42`` -> ``user_id=<NUM>``). Slots, first match wins:

``<UUID>`` ``<URL>`` (``scheme://...``) ``<EMAIL>`` ``<TS>`` (ISO dates and times, ``2024/01/02``,
``12:30:45.123``) ``<IP>`` (v4 with an optional port, v6) ``<HOST>`` (``db.example.com``: three
or more lower-case labels) ``<PATH>`` (``/a/b``, ``./x``,
``~/x``, ``C:\\x``) ``<DUR>`` (``12ms``, ``1.5s``, ``3m``, ``2h``) ``<NUM>`` (integers, decimals,
``0x1f``, sizes and percentages ``12KB``, ``45%``) ``<HEX>`` (hex ids of 8+ characters) and
``<ID>`` (any other token holding a digit, as Drain does: ``req-8f3a``, ``db-3``, ``v2``).

Tokens repeat (words, common numbers), so :class:`Masker` caches each token's mask in a bounded
dict: a message of known words costs a dict lookup per token.
"""

from __future__ import annotations

import re

SLOTS = (
    "<UUID>",
    "<URL>",
    "<EMAIL>",
    "<TS>",
    "<IP>",
    "<HOST>",
    "<PATH>",
    "<DUR>",
    "<NUM>",
    "<HEX>",
    "<ID>",
)
SLOT_SET = frozenset(SLOTS) | {"<STR>", "<*>"}
_SLOT_NAMES = frozenset(slot.strip("<>") for slot in SLOT_SET) - {"*"} | {""}

_DQ = re.compile(r'"[^"]*"')
_SQ = re.compile(r"(?<![\w'])'[^'\n]*'(?![\w'])")
_CLASSES: tuple[tuple[str, str], ...] = (
    ("UUID", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    ("URL", r"[A-Za-z][A-Za-z0-9+.-]*://\S*"),
    ("EMAIL", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    (
        "TS",
        r"\d{4}[-/]\d\d[-/]\d\d(?:[T ]?\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
        r"|\d\d:\d\d:\d\d(?:[.,]\d+)?",
    ),
    (
        "IP",
        r"(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?|\[?[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\]?"
        r"(?::\d{1,5})?",
    ),
    ("HOST", r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.){2,}[a-z]{2,}\.?"),
    ("PATH", r"(?:[.~]{0,2}/|[A-Za-z]:\\)[^\s]*"),
    ("DUR", r"-?\d+(?:\.\d+)?(?:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d)"),
    (
        "NUM",
        r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?)"
        r"(?:%|[KMGTP]i?B|[kKMG]|B|bytes?)?",
    ),
    ("HEX", r"[0-9a-fA-F]{8,}"),
    ("ID", r"[^\s]*\d[^\s]*"),
)
_CLASSIFY = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _CLASSES))
_DIGIT_TAIL = re.compile(rb"\d[\w.:-]*")
_ZEROS = bytes.maketrans(b"0123456789", b"0000000000")
_EDGE = "\"'`()[]{}<>,;:.!?"
_DIGIT_OR_MARK = re.compile(r"[\d/@:\\.]")


def mask_token(token: str) -> str:
    """The masked form of one whitespace-free token (uncached; see :class:`Masker`)."""
    if token.isdigit():
        return "<NUM>"
    if "<" in token and token.strip(_EDGE + "*") in _SLOT_NAMES:
        return token  # already a slot
    core = token.strip(_EDGE)
    if not core or _DIGIT_OR_MARK.search(core) is None:
        return token  # a plain word
    if core is token:
        head = tail = ""
    else:
        start = token.find(core)
        head, tail = token[:start], token[start + len(core) :]
    if "=" in core and not core.startswith("="):
        key, _, value = core.partition("=")
        if key and "/" not in key:
            return f"{head}{key}={mask_token(value) if value else ''}{tail}"
    m = _CLASSIFY.fullmatch(core)
    if m is None:
        return token
    # Punctuation that a class owns (a URL's trailing slash, an IPv6 bracket) stays masked.
    return f"{head}<{m.lastgroup}>{tail}"


def shape_of(text: str) -> bytes:
    """``text`` with each token tail from a digit on as ``0`` (``user 4711 from 10.0.0.1 in
    35ms`` -> ``user 0 from 0 in 0``): messages of one shape mask alike but for the type of a
    slot, so the miner remembers the cluster of a shape (one regex pass, no token loop)."""
    return coarse_shape(text.encode("utf-8", "surrogatepass"))


def coarse_shape(raw: bytes) -> bytes:
    """:func:`shape_of` of UTF-8 bytes."""
    return _DIGIT_TAIL.sub(b"0", raw)


def fine_shape(raw: bytes) -> bytes:
    """UTF-8 bytes with every digit as ``0``: finer than :func:`coarse_shape` (equal fine
    shapes have equal coarse shapes, and the coarse shape of a fine one is its own), and about
    four times cheaper, so the miner tries it first."""
    return raw.translate(_ZEROS)


def mask_quotes(text: str) -> str:
    """Quoted strings replaced by ``<STR>`` (double quotes always, single quotes as words)."""
    if '"' in text:
        text = _DQ.sub("<STR>", text)
    if "'" in text:
        text = _SQ.sub("<STR>", text)
    return text


class Masker:
    """Masks messages token by token, with a bounded cache of token masks."""

    __slots__ = ("cache", "max_cache")

    def __init__(self, max_cache: int = 50_000) -> None:
        self.cache: dict[str, str] = {}
        self.max_cache = max_cache

    def tokens(self, text: str) -> tuple[str, ...]:
        """The masked tokens of ``text``."""
        if '"' in text or "'" in text:
            text = mask_quotes(text)
        get = self.cache.get
        return tuple([get(tok) or self.miss(tok) for tok in text.split()])

    def miss(self, token: str) -> str:
        """Mask a token that is not cached yet, and cache it."""
        cache = self.cache
        if len(cache) >= self.max_cache:
            cache.clear()
        masked = cache[token] = mask_token(token)
        return masked
