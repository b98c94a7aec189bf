"""Pure window math on event time: panes, tumbling and hopping windows, grace and idle close.

Stream slicing (Scotty, ICDE 2018): every series keeps one aggregate per *pane* of
``gcd(tumbling size, hopping step)`` seconds. A tumbling or hopping window is the merge of its
panes, so a record touches one pane, never ``size/step`` windows.

Time is an argument everywhere: event times and wall-clock ``now`` are float epoch seconds (UTC).

Closing: each stream key (host) has a watermark, the largest event time it has sent. A window
``[start, end)`` closes when the watermark reaches ``end + grace``. When a host has been quiet for
``idle`` wall seconds, its watermark advances with the wall clock from the last record received
(``max_ts + (now - last_recv)``): the last window of a stream that went quiet still closes, but
replayed old data or a skewed host clock never closes windows early, because the idle clock starts
at the last record received, not at a window's end.

Late records: a record is accepted only if *every* window containing it is still open (all or
nothing, so no window ever holds a record that another window missed); otherwise it is late.
"Open" is judged per record against the host's watermark so far (its largest event time, or the
idle-advanced mark), so the verdict is the same however the stream was cut into batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd, inf

TUMBLING = "tumbling"
HOPPING = "hopping"
KINDS = (TUMBLING, HOPPING)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Window sizes (seconds), grace and idle allowance for both window kinds."""

    tumbling: int = 60
    hopping: int = 300
    step: int = 60
    grace: float = 30.0
    idle: float = 30.0

    def __post_init__(self) -> None:
        if min(self.tumbling, self.hopping, self.step) <= 0:
            raise ValueError("window sizes must be positive")
        if self.hopping % self.step:
            raise ValueError("hopping size must be a multiple of its step")
        if self.grace < 0 or self.idle <= 0:
            raise ValueError("grace must be >= 0 and idle > 0")

    @property
    def pane(self) -> int:
        """Pane size: the largest slice that tiles both window kinds."""
        return gcd(self.tumbling, self.step)

    def size(self, kind: str) -> int:
        """Window length of ``kind``."""
        return self.tumbling if kind == TUMBLING else self.hopping

    def pane_of(self, ts: float) -> int:
        """Start of the pane holding event time ``ts`` (a record at a pane's end is in the next)."""
        p = self.pane
        return int(ts // p) * p

    def windows_of_pane(self, pane: int) -> list[tuple[str, int]]:
        """Every ``(kind, start)`` window that contains ``pane``."""
        t = self.tumbling
        out = [(TUMBLING, (pane // t) * t)]
        last = (pane // self.step) * self.step
        first = last - self.hopping + self.step
        out.extend((HOPPING, s) for s in range(first, last + 1, self.step))
        return out

    def window_ranges(self, ts: float) -> list[tuple[str, int, int]]:
        """Every ``(kind, start, end)`` window containing event time ``ts``."""
        return [(k, s, s + self.size(k)) for k, s in self.windows_of_pane(self.pane_of(ts))]

    def panes_of(self, kind: str, start: int) -> range:
        """Pane starts that make up window ``(kind, start)``."""
        return range(start, start + self.size(kind), self.pane)

    def first_end(self, pane: int) -> int:
        """End of the earliest-ending window that contains ``pane``."""
        t_end = (pane // self.tumbling) * self.tumbling + self.tumbling
        h_end = (pane // self.step) * self.step + self.step
        return min(t_end, h_end)

    def last_end(self, pane: int) -> int:
        """End of the latest-ending window that contains ``pane``."""
        t_end = (pane // self.tumbling) * self.tumbling + self.tumbling
        h_end = (pane // self.step) * self.step + self.hopping
        return max(t_end, h_end)

    def min_open_pane(self, mark: float) -> float:
        """Smallest pane start whose windows are all still open after closing up to ``mark``.

        A pane is open while ``first_end(pane) + grace > mark``. ``first_end`` grows with the
        pane, so the answer is found by a short scan from the pane holding ``mark - grace``.
        """
        if mark == -inf:
            return -inf
        p = self.pane_of(mark - self.grace) - 2 * max(self.tumbling, self.step)
        while self.first_end(p) + self.grace <= mark:
            p += self.pane
        return p

    def due(self, pane: int, prev_mark: float, mark: float) -> list[tuple[str, int]]:
        """Windows containing ``pane`` whose close time ``end + grace`` is in ``(prev, mark]``."""
        out = []
        for kind, start in self.windows_of_pane(pane):
            close_at = start + self.size(kind) + self.grace
            if prev_mark < close_at <= mark:
                out.append((kind, start))
        return out


def effective_watermark(max_ts: float, last_recv: float, now: float, idle: float) -> float:
    """Watermark of a stream key: its largest event time, moved on by wall time once idle."""
    quiet = now - last_recv
    if quiet >= idle:
        return max_ts + quiet
    return max_ts
