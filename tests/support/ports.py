"""Free loopback ports and waiting for a server to answer."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerExited(RuntimeError):
    """A server's process ended before it answered: `wait_until` lets it through at once, with the
    log that says why, instead of polling on to a timeout that hides the cause."""


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `check` until it returns true; raise after `timeout` seconds, or at once if `check`
    raises `ServerExited`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ServerExited:
            raise
        except Exception:  # noqa: S110 - a server that is not up yet raises; keep polling
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def http_status(url: str, timeout: float = 1.0) -> int:
    """The status of a plain GET of `url` (http only), for polling a starting server: a bare
    connection, where `httpx.get` built a client and its TLS context on every poll (tens of them
    at each start of the suite's servers)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status
    finally:
        connection.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
