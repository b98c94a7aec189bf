"""The stack's private PostgreSQL cluster: install, initdb, pg_ctl as `postgres`, the database."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from app.services import POSTGRES, Part
from devtools.stack.errors import StackError
from devtools.stack.ports import HOST
from devtools.stack.processes import (
    CHILDREN,
    STOP_TIMEOUT,
    WATCHDOG_MARKER,
    alive,
    left,
    run,
    start_watchdog,
    terminate,
    wait,
)

DATABASE = "lookout"
PG_ROOT = Path("/usr/lib/postgresql")
INSTALL_TIMEOUT = 900.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the trailing NUL


def start(
    stack_dir: Path,
    port: int,
    log: Path,
    deadline: float,
    timeout: float,
    *,
    detached: bool,
    say: Callable[[str], None],
) -> Part:
    """Start the cluster under ``stack_dir/pg`` on ``port`` (made first if need be), with the
    database; attached (not ``detached``): with a watchdog that stops it when we die."""
    bin_dir = _bin_dir(stack_dir, say)
    as_pg = _as_postgres()
    root = stack_dir / "pg"
    data, sock = root / "data", root / "sock"
    _prepare_dirs(root, sock, log)
    if not (data / "PG_VERSION").exists():
        say(f"postgres: initialising a cluster in {data}")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "-E", "UTF8", "--no-locale"]
        run(POSTGRES, as_pg + initdb, log, left(deadline))
    _check_version(data, bin_dir, root)
    _stop_leftover(data, bin_dir, as_pg, log, say)
    sockdir = str(sock) if len(f"{sock}/.s.PGSQL.{port}") <= _SOCKET_PATH_MAX else ""
    opts = f"-p {port} -k {shlex.quote(sockdir)} -c listen_addresses={HOST}"
    wait_s = str(max(1, int(left(deadline))))
    cmd = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log)]
    cmd += ["-w", "-t", wait_s, "start"]
    dsn = f"postgresql://postgres@{HOST}:{port}/{DATABASE}"
    part = Part(POSTGRES, port, None, dsn, str(log), cmd, str(data), str(bin_dir))
    isready = [str(bin_dir / "pg_isready"), "-h", HOST, "-p", str(port), "-t", "1"]
    isready += ["-U", "postgres", "-d", "postgres"]  # else it logs: role "root" does not exist

    def ready() -> bool:
        try:
            done = subprocess.run(isready, capture_output=True, timeout=5, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    try:
        run(POSTGRES, cmd, log, left(deadline) + 5)
        part.pid = pid = _postmaster_pid(data)
        wait(POSTGRES, ready, lambda: alive(pid, b"postgres"), cmd, log, deadline, timeout)
        _ensure_database(bin_dir, port, log, deadline)
        if not detached:
            part.watchdog_pid = start_watchdog(pid, log)
    except BaseException:
        with contextlib.suppress(StackError):
            part.pid = part.pid or _postmaster_pid(data)
        if part.pid is not None:
            stop(part)
        raise
    return part


def stop(part: Part) -> None:
    """Stop the postmaster (``pg_ctl stop -m fast``, else signals) and its watchdog."""
    assert part.pid is not None and part.data_dir and part.bin_dir
    if alive(part.pid, b"postgres"):
        cmd = [str(Path(part.bin_dir) / "pg_ctl"), "-D", part.data_dir, "-m", "fast"]
        cmd += ["-w", "-t", str(int(STOP_TIMEOUT)), "stop"]
        try:
            run(POSTGRES, _as_postgres() + cmd, Path(part.log), STOP_TIMEOUT + 5)
        except StackError:
            terminate(part.pid, b"postgres")
    if part.watchdog_pid is not None:
        child = CHILDREN.get(part.watchdog_pid)
        if child is not None and child.stdin is not None:
            child.stdin.close()  # the postmaster is gone: the watchdog just exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
        terminate(part.watchdog_pid, WATCHDOG_MARKER.encode())


def _bin_dir(stack_dir: Path, say: Callable[[str], None]) -> Path:
    found = _bin_dirs()
    if found:
        return found[-1]
    if not _is_root():
        raise StackError(
            f"postgres: PostgreSQL is not installed (no {PG_ROOT}/<version>/bin/pg_ctl); "
            "install it with `sudo apt-get install -y postgresql`, or set "
            "LOOKOUT_POSTGRES_DSN to use an existing server"
        )
    say("postgres: not installed; running `apt-get update && apt-get install -y postgresql`")
    apt_log = stack_dir / "apt.log"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        run(POSTGRES, cmd, apt_log, INSTALL_TIMEOUT, env=env)
    found = _bin_dirs()
    if not found:
        raise StackError(
            f"postgres: `apt-get install -y postgresql` gave no {PG_ROOT}/<version>/bin; "
            f"see {apt_log}, or set LOOKOUT_POSTGRES_DSN"
        )
    return found[-1]


def _prepare_dirs(root: Path, sock: Path, log: Path) -> None:
    root.mkdir(exist_ok=True)
    sock.mkdir(exist_ok=True)
    log.touch()
    if not _is_root():
        return
    user = pwd.getpwnam("postgres")
    for path in (root, sock, log):
        os.chown(path, user.pw_uid, user.pw_gid)
    probe = ["runuser", "-u", "postgres", "--", "test", "-w", str(root), "-a", "-x", str(root)]
    if subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode != 0:
        blocker = _first_blocking_dir(root, user)
        raise StackError(
            f"postgres: the `postgres` user cannot reach {root}: {blocker} is closed to it; "
            f"run `chmod o+x {blocker}`, or set LOOKOUT_STACK_DIR to a folder it can reach "
            "(for example /var/tmp/lookout)"
        )


def _stop_leftover(
    data: Path, bin_dir: Path, as_pg: list[str], log: Path, say: Callable[[str], None]
) -> None:
    try:
        pid = _postmaster_pid(data)
    except StackError:
        return
    if alive(pid, b"postgres"):
        say(f"postgres: stopping a leftover server (pid {pid}) on {data}")
        cmd = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30"]
        run(POSTGRES, [*as_pg, *cmd, "stop"], log, 40)


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres() -> list[str]:
    """Command prefix for initdb and pg_ctl, which refuse to run as root."""
    if not _is_root():
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "postgres: running as root but the `postgres` user is missing (the postgresql "
            "package creates it); run `apt-get install --reinstall postgresql-common`, or "
            "set LOOKOUT_POSTGRES_DSN"
        ) from None
    if shutil.which("runuser") is None:
        raise StackError("postgres: `runuser` is missing; run `apt-get install -y util-linux`")
    return ["runuser", "-u", "postgres", "--"]


def _bin_dirs() -> list[Path]:
    found = [
        path / "bin"
        for path in PG_ROOT.glob("*")
        if path.name.isdigit() and (path / "bin" / "pg_ctl").exists()
    ]
    return sorted(found, key=lambda path: int(path.parent.name))


def _check_version(data: Path, bin_dir: Path, root: Path) -> None:
    made_by = (data / "PG_VERSION").read_text().strip()
    if made_by != bin_dir.parent.name:
        raise StackError(
            f"postgres: the cluster in {data} was made by PostgreSQL {made_by}, but "
            f"{bin_dir} is version {bin_dir.parent.name}; install postgresql-{made_by}, or "
            f"delete {root} (its data is lost)"
        )


def _postmaster_pid(data: Path) -> int:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        raise StackError(f"postgres: no readable {data / 'postmaster.pid'}") from None


def _ensure_database(bin_dir: Path, port: int, log: Path, deadline: float) -> None:
    psql = [str(bin_dir / "psql"), "-X", "-h", HOST, "-p", str(port), "-U", "postgres"]
    sql = f"select 1 from pg_database where datname = '{DATABASE}'"
    query = [*psql, "-d", "postgres", "-tAc", sql]
    found = run(POSTGRES, query, log, left(deadline), capture=True)
    if found.strip() != b"1":
        createdb = [str(bin_dir / "createdb"), *psql[2:], DATABASE]
        run(POSTGRES, createdb, log, left(deadline))


def _first_blocking_dir(path: Path, user: pwd.struct_passwd) -> Path:
    """The first folder on the way to ``path`` that ``user`` cannot search."""
    groups = {user.pw_gid} | set(os.getgrouplist(user.pw_name, user.pw_gid))
    for folder in [*reversed(path.parents), path]:
        info = folder.stat()
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return path
