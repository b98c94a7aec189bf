"""One progress line per phase, rewritten in place (carriage return) at most twice a second.

When the stream is not a terminal (a log file, CI), the line is printed anew at most every
10 s instead, and once more when the phase is done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Progress lines on a terminal stream; silent when ``quiet``."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        every: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else max(every, 10.0)
        self.clock = clock
        self._phase = ""
        self._last = -1e9
        self._width = 0

    def phase(self, name: str) -> None:
        """Start a new phase (finishes the line of the previous one)."""
        self._end_line()
        self._phase = name
        self._last = -1e9

    def update(self, text: str, *, force: bool = False) -> None:
        """Rewrite the phase's line, unless it was rewritten less than ``every`` seconds ago."""
        now = self.clock()
        if not force and now - self._last < self.every:
            return
        self._last = now
        line = f"{self._phase}: {text}"
        if self.tty:
            self._write(f"\r{self._pad(line)}")
        elif force:
            self._write(line + "\n")
        else:
            self._write(f"  ... {line}\n")

    def done(self, text: str) -> None:
        """Final state of the phase, then a newline."""
        self.update(text, force=True)
        self._end_line()

    def note(self, text: str) -> None:
        """A line of its own (between phases)."""
        self._end_line()
        self._write(text + "\n")

    def _pad(self, line: str) -> str:
        padded = line.ljust(self._width)
        self._width = len(line)
        return padded

    def _end_line(self) -> None:
        if self._width and self.tty:
            self._write("\n")
            self._width = 0

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()
