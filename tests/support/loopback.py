"""Test servers on the loopback: a threaded HTTP server whose open connections can be cut at once
(a destination going down mid-request), and the start/stop/with life that every test destination
built on it shares."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.ports import free_port
from tests.support.tls import Authority


class CuttableServer(ThreadingHTTPServer):
    """A threaded HTTP server for test destinations; `cut_connections` ends every open connection
    at once (a destination going down mid-request). `owner` is what its handler serves for."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Cut connections (and refused TLS handshakes) are expected; stay quiet."""


class LoopbackServer:
    """A test server on 127.0.0.1: `start()` (again, on the same port), `stop()` (cutting open
    connections), and `with`; HTTPS when given a TLS authority. Its handler serves for `self`."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], port: int | None = None, tls: Authority | None = None
    ) -> None:
        self.port = port if port is not None else free_port()
        self.tls = tls
        self._handler = handler
        self._server: CuttableServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen (again) on the same port; what was recorded is kept."""
        if self._server is not None:
            return
        self._server = CuttableServer(("127.0.0.1", self.port), self._handler, self)
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-{self.port}"
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and cut open connections: down until `start()`."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.cut_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None
