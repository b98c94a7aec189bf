"""The one error of the local stack, and its message for a command that failed."""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from collections.abc import Sequence
from pathlib import Path

from app.services import ENV_VAR, ServiceError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StackError(ServiceError):
    """A part of the local stack cannot start or be found; the message names the part and fix."""


def failure(part: str, what: str, cmd: Sequence[str], log: Path) -> StackError:
    """The error for a part whose command failed: the command, its log and the log's last lines."""
    tail = textwrap.indent(_tail(log) or "(empty)", "    ")
    return StackError(
        f"{part}: {what}\n"
        f"  command: {shlex.join(cmd)}\n"
        f"  log: {log}\n"
        f"  fix: see the log lines below; or set {ENV_VAR[part]} to use an existing server\n"
        f"  last lines of the log:\n{tail}"
    )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(_ANSI.sub("", text).rstrip().splitlines()[-lines:])
