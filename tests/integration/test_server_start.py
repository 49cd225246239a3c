"""The suite's servers start on a free port, and one that dies at start says why at once."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.celery_worker import base_env
from tests.support.ports import ServerExited, wait_until
from tests.support.redis_server import RedisServer


def test_a_server_that_exits_is_reported_with_its_cause_not_a_timeout() -> None:
    def healthy() -> bool:
        raise ServerExited("exited with 3")  # what a server's check raises once its process ended

    with pytest.raises(ServerExited, match="exited with 3"):
        wait_until(healthy, timeout=60, what="a server that exited")


def test_the_api_starts_on_another_port_when_its_port_was_taken(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    api = ApiServer(tmp_path, base_env(redis_server.url, None))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api.port = taken.getsockname()[1]  # what another process of the suite did after free_port()
        try:
            api.start()
            assert api.port != taken.getsockname()[1]
            assert httpx.get(f"{api.url}/health", timeout=5).json() == {"status": "ok"}
            assert "address already in use" in (tmp_path / f"api-{taken.getsockname()[1]}.log").read_text()
        finally:
            api.stop()
