"""Optional sampling profile of the Lookout worker (py-spy), and a summary of where time went.

``py-spy record --threads --format raw`` writes collapsed stacks, one line per distinct stack
with its sample count, rooted at a ``thread (TID): NAME`` frame. The summary keeps the event
loop's thread (the one running ``Pipeline.process``; Faust's consumer runs in a thread of its
own), so its percentages are shares of the worker's processing time.
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

from devtools.bench.context import Context
from devtools.bench.procs import Child

_LINE = re.compile(r":\d+\)$")
_MAIN_MARK = "Pipeline.process"
_GENERIC = (
    "<frozen runpy>",
    "click/",
    "faust/cli/",
    "faust/app/base.py",
    "mode/worker.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "app/cli.py",
)


def py_spy() -> str | None:
    """The py-spy executable (next to this Python first), or None."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Profiler:
    """``py-spy record`` attached to a process until :meth:`stop`."""

    def __init__(self, ctx: Context, pid: int, name: str) -> None:
        self.ctx = ctx
        self.child: Child | None = None
        assert ctx.profile_dir is not None
        self.path = ctx.profile_dir / f"{name}.txt"
        exe = py_spy()
        if exe is None:
            ctx.progress.note("profile: py-spy not found (`.venv/bin/pip install py-spy`)")
            return
        cmd = [exe, "record", "--pid", str(pid), "--rate", "100", "--threads"]
        cmd += ["--format", "raw", "--output", str(self.path)]
        log = ctx.folder("logs") / f"{name}-py-spy.log"
        self.child = ctx.children.start(f"py-spy {name}", cmd, log, ctx.child_env())

    def stop(self) -> str | None:
        """Stop recording (SIGINT makes py-spy write its file); the summary, if any."""
        if self.child is None:
            return None
        self.ctx.children.stop(self.child, signal.SIGINT)
        if not self.path.exists():
            return None
        return f"profile {self.path}:\n{summarize(self.path.read_text())}"


def _stacks(collapsed: str) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks (frames without line numbers) and counts, per thread."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        thread = frames.pop(0) if frames[0].startswith("thread (") else "all threads"
        threads.setdefault(thread, []).append((frames, int(count)))
    return threads


def summarize(collapsed: str, top: int = 15) -> str:
    """Top functions of the event-loop thread by own and by inclusive samples."""
    threads = _stacks(collapsed)
    if not threads:
        return "  (no samples)"

    def weight(name: str) -> tuple[int, int]:
        stacks = threads[name]
        marked = sum(n for frames, n in stacks if any(_MAIN_MARK in f for f in frames))
        return marked, sum(n for _, n in stacks)

    main = max(threads, key=weight)
    stacks = threads[main]
    total = sum(n for _, n in stacks)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    others = sum(n for name, st in threads.items() if name != main for _, n in st)
    out = [f"  {main}: {total} samples (other threads: {others}); own time:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out.append("  inclusive time:")
    picked = [(f, n) for f, n in inclusive.most_common() if not _generic(f)]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in picked[: top * 2]]
    return "\n".join(out)


def _generic(frame: str) -> bool:
    return not frame or any(part in frame for part in _GENERIC)
