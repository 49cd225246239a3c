"""The local ports `mimecast-source run` listens on: free or not, and who holds one that is taken."""

from __future__ import annotations

import contextlib
import socket

import psutil


def taken(port: int, host: str = "127.0.0.1") -> bool:
    """True when a listener already holds `host:port` (or the wildcard address) on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as the servers set it: a socket in TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def holder(port: int) -> str | None:
    """'pid N (command line)' of the process listening on `port`, when this user may see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid is None:
                return None
            with contextlib.suppress(psutil.Error):
                command = " ".join(psutil.Process(connection.pid).cmdline())[:160]
                return f"pid {connection.pid} ({command})"
            return f"pid {connection.pid}"
    return None


def in_use(wanted: dict[str, tuple[int, str]]) -> list[str]:
    """One line per port of `wanted` (what -> (port, how to choose another)) that is already taken."""
    problems = []
    for what, (port, option) in wanted.items():
        if taken(port):
            held = holder(port)
            by = f" by {held}" if held else " (by a process this user cannot see)"
            problems.append(
                f"port {port} ({what}) is already in use{by}; stop it, or choose another: {option}"
            )
    return problems
