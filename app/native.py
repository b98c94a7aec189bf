"""The native window core: the engine and its aggregates compiled to C with mypyc, when built.

Why: one Lookout worker spends most of its CPU in the window engine (applying fields to pane
aggregates, closing windows, serialising state and final records), one Python call at a time.
On Telegraf's one-metric-per-message shape (W1f) the pure-Python core was the bound
(docs/BENCHMARKS.md); the same modules compiled with mypyc, unchanged, run it about a third
faster. The sources stay the one truth: the compiled modules are built from them and are only
used while they match them byte for byte.

How: ``python -m devtools.native build`` (``make native``, part of ``make run`` and
``make test``) compiles :data:`MODULES` into ``app/_native/<python tag>/`` with a manifest
holding the SHA-256 of their sources. Importing ``tables`` calls :func:`activate` (its
``__init__``, before any of its modules loads), which puts a finder in front of the import system
that loads those modules from the build, but only if:

- ``LOOKOUT_NATIVE`` is not ``0`` (set it to run the pure-Python modules, e.g. for a py-spy
  profile that shows Python frames);
- a build exists for this interpreter;
- every source still has the digest the build was made from. A stale build is never loaded:
  the worker logs that it runs the pure-Python core and how to rebuild.

:data:`STATE` says which core runs and why (the worker logs it at start; the bench prints it).
Standard library only: the build (and mypyc) is ``devtools/native.py``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

#: Modules compiled by the native build (no package ``__init__``: packages stay Python). Of
#: ``formats`` only the Telegraf JSON parser (the W1f hot path): it divides a timestamp typed
#: ``Any``, which compiled code leaves to Python's exact division. The other parsers stay
#: Python: compiled, a division of two values typed ``int`` (nanosecond timestamps) is done in
#: floating point and can round differently, and parsing must give the same times to the last
#: bit (tests/unit/formats/test_native_parse.py compares the two builds).
MODULES = (
    "tables.aggregates.base",
    "tables.aggregates.counter",
    "tables.aggregates.gauge",
    "tables.aggregates.logs",
    "tables.aggregates.patterns",
    "tables.aggregates.kinds",
    "tables.sketch",
    "tables.series",
    "tables.windows",
    "tables.panes",
    "tables.records",
    "tables.recent",
    "tables.engine",
    "tables.queries",
    "formats.telegraf_json",
)
GROUP = "lookout_native"  # mypyc's shared library of the build: lookout_native__mypyc
ROOT = Path(__file__).resolve().parent.parent  # the folder that holds the packages
ENV = "LOOKOUT_NATIVE"

#: Which core runs: "native" or "python (<why>)"; set by :func:`activate`.
STATE = "python (not activated)"


def build_dir(root: Path = ROOT) -> Path:
    """Where the build for this interpreter lives (one per Python version and platform)."""
    tag = f"{sys.implementation.cache_tag}-{sys.platform}-{os.uname().machine}"
    return root / "app" / "_native" / tag


def source_path(module: str, root: Path = ROOT) -> Path:
    """The source file of one of :data:`MODULES`."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_digest(modules: Sequence[str] = MODULES, root: Path = ROOT) -> str:
    """SHA-256 over the modules' names and sources, in order."""
    h = hashlib.sha256()
    for module in modules:
        h.update(module.encode() + b"\0")
        h.update(source_path(module, root).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class _Finder(importlib.abc.MetaPathFinder):
    """Loads the built extension of each compiled module (and mypyc's shared library)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        so = self.files.get(fullname)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(so))
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


def check(root: Path = ROOT, env: Mapping[str, str] | None = None) -> tuple[dict[str, Path], str]:
    """(the files to load, "native") when a current build exists, else ({}, why not)."""
    if (os.environ if env is None else env).get(ENV, "1").strip().lower() in (
        "0",
        "false",
        "no",
        "off",
    ):
        return {}, f"python ({ENV}=0)"
    folder = build_dir(root)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        return {}, "python (no native build for this interpreter: run `make native`)"
    except (OSError, ValueError) as exc:
        return {}, f"python (unreadable native build manifest: {exc}; run `make native`)"
    if tuple(manifest.get("modules", ())) != MODULES:
        return {}, "python (native build is of another module list: run `make native`)"
    if manifest.get("digest") != source_digest(MODULES, root):
        return {}, "python (native build is stale: its sources changed; run `make native`)"
    files = {name: folder / rel for name, rel in manifest["files"].items()}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        return {}, f"python (native build incomplete, missing {missing[0]}: run `make native`)"
    return files, "native"


def activate(root: Path = ROOT) -> str:
    """Load the compiled modules from now on if a current build exists; return :data:`STATE`.

    Must run before any of :data:`MODULES` is imported (``tables/__init__.py`` and
    ``formats/__init__.py`` call it).
    """
    global STATE
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return STATE
    files, STATE = check(root)
    if files:
        sys.meta_path.insert(0, _Finder(files))
    return STATE
