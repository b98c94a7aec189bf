"""Text helpers shared by the parsers: UTF-8 lines of a payload and bounded integers."""

from __future__ import annotations

from formats.points import Rejected


def decode_lines(payload: bytes) -> tuple[list[str], list[Rejected]]:
    """Text lines of ``payload`` (LF or CRLF); lines that are not UTF-8 are rejected."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return _decode_each(payload)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines, []


def _decode_each(payload: bytes) -> tuple[list[str], list[Rejected]]:
    lines: list[str] = []
    rejected: list[Rejected] = []
    for raw in payload.split(b"\n"):
        try:
            line = raw.decode()
        except UnicodeDecodeError as exc:
            rejected.append(Rejected("not_utf8", f"invalid UTF-8 at byte {exc.start}", raw))
            continue
        lines.append(line[:-1] if line.endswith("\r") else line)
    return lines, rejected


def is_blank(line: str) -> bool:
    """True for a line with nothing but whitespace."""
    return not line or line.isspace()


def ascii_int(text: str, max_digits: int = 19) -> int | None:
    """The value of an unsigned ASCII decimal of at most ``max_digits`` digits, else ``None``."""
    if 0 < len(text) <= max_digits and text.isdigit() and text.isascii():
        return int(text)
    return None
