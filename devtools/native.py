"""``python -m devtools.native build|status``: compile the native window core with mypyc.

What is compiled, where it goes and when a build is used: ``app/native.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from app.native import GROUP, MODULES, ROOT, build_dir, check, source_digest, source_path


def build(root: Path = ROOT, *, quiet: bool = False) -> Path:
    """Compile :data:`MODULES` with mypyc into :func:`build_dir` (a no-op when current;
    ``quiet``: say nothing then)."""
    folder = build_dir(root)
    files, state = check(root, env={})
    if files:
        if not quiet:
            print(f"native core: up to date in {folder}")
        return folder
    started = time.monotonic()
    from mypyc.build import mypycify  # dev tools only: the running worker never needs mypyc
    from setuptools import Distribution

    # a build takes a while: say so even when quiet
    print(f"native core: compiling {len(MODULES)} modules with mypyc ({state})", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lookout-native-"))
    cwd = os.getcwd()
    try:
        os.chdir(root)  # mypyc names modules by their paths relative to the working folder
        paths = [str(source_path(m, root).relative_to(root)) for m in MODULES]
        digest = source_digest(MODULES, root)
        extensions = mypycify(
            paths, opt_level="3", group_name=GROUP, target_dir=str(work / "c"), verbose=False
        )
        dist = Distribution({"name": "lookout-native", "ext_modules": extensions})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = str(work / "lib")  # type: ignore[attr-defined]
        cmd.build_temp = str(work / "tmp")  # type: ignore[attr-defined]
        cmd.parallel = os.cpu_count() or 1  # type: ignore[attr-defined]
        dist.run_command("build_ext")
        built = {
            ext.name: Path(cmd.get_ext_fullpath(ext.name)).relative_to(work / "lib")
            for ext in extensions
        }
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for rel in built.values():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / "lib" / rel, target)
        manifest = {
            "modules": list(MODULES),
            "digest": digest,
            "files": {name: str(rel) for name, rel in built.items()},
            "python": sys.version,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    if source_digest(MODULES, root) != digest:
        raise SystemExit("native core: the sources changed during the build; run it again")
    print(f"native core: built in {time.monotonic() - started:.0f} s into {folder}")
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devtools.native build|status``."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.native",
        description=(
            "The native window core: compile the window engine and its aggregates with mypyc "
            "(build), or say which core a worker started now would run (status). A build is "
            "only used while the sources match it; LOOKOUT_NATIVE=0 runs the Python sources."
        ),
    )
    parser.add_argument("command", choices=("build", "status"))
    parser.add_argument("--quiet", action="store_true", help="print nothing when up to date")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(quiet=args.quiet)
        return 0
    _files, state = check()
    print(f"native core: {state}")
    return 0 if state == "native" else 1


if __name__ == "__main__":
    sys.exit(main())
