"""The management API as a real process (`mimecast-source api`) on a free port, and a client for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import ServerExited, free_port, http_status, wait_until

ADMIN_ID = "test-admin"
ADMIN_KEY = "test-admin-key-0123456789abcdef"
# Between `free_port()` and the server's bind, another process of the suite (xdist runs two) can
# take the port: the server then exits at once, and starts again on another port.
START_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


class ApiServer:
    def __init__(self, log_dir: Path, env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.env = {"API_ACCESS_ID": ADMIN_ID, "API_ACCESS_KEY": ADMIN_KEY, **env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"api-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the API and wait until it answers; on another free port if its port was taken."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start()
                return
            except ServerExited:
                if attempt == START_ATTEMPTS or PORT_TAKEN not in self.log().lower():
                    raise
                self.process = None
                self.port = free_port()

    def _start(self) -> None:
        command = "from cli.main import main; main()"
        args = [sys.executable, "-c", command, "api", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        wait_until(self._healthy, timeout=30, what=f"API on port {self.port}")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerExited(f"API exited: {self.log()[-3000:]}")
        return http_status(f"{self.url}/health") == 200

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def client(self, auth: tuple[str, str] | None = (ADMIN_ID, ADMIN_KEY), **options: Any) -> RecordingClient:
        return RecordingClient(base_url=f"{self.url}/api/v1", auth=auth, timeout=30, **options)


class RecordingClient(httpx.Client):
    """An httpx client that keeps every response body it saw, for the no-plaintext-secret sweep."""

    seen: list[bytes]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen = []

    def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        response = super().send(request, **options)
        response.read()
        self.seen.append(bytes(response.headers.raw.__repr__(), "utf-8") + response.content)
        return response
