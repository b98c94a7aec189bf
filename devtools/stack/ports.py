"""Ports of the stack's servers: a free one, a taken one, who listens, who answers."""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.request

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on :data:`HOST` that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    """True when a listener holds ``port`` on :data:`HOST` (TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def accepts(port: int) -> bool:
    """True when something accepts connections on ``port`` of :data:`HOST`."""
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def owns_listener(pid: int, port: int) -> bool:
    """True when ``pid`` holds the socket listening on ``port`` (not some other process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def http_ok(url: str) -> bool:
    """True when ``url``/ answers 200 (directly, never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url + "/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
