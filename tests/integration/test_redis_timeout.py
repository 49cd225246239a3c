"""A store call against a Redis that stopped answering fails after REDIS_TIMEOUT_SECONDS, by name."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from core.errors import FirstPartyGenericError
from core.store.secrets import SecretBox
from core.store.sources import SourceStore
from worker.settings import Settings


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A TCP server on the loopback that takes connections and reads, and never answers: a Redis
    behind a network cut that left the connection open."""
    server = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            taken.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        for connection in taken:
            connection.close()
        server.close()


def test_a_store_call_to_a_redis_that_never_answers_fails_with_the_store_named(silent_redis: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url=f"redis://127.0.0.1:{silent_redis}/0", redis_timeout_seconds=0.3
    )
    client = settings.redis_store()
    sources = SourceStore(client, SecretBox(Fernet.generate_key().decode()))
    with pytest.raises(FirstPartyGenericError, match=r"Redis source read failed: TimeoutError"):
        sources.get_optional("a-source")  # without a timeout: blocked until TCP gives up (hours)
    client.close()


def test_the_redis_timeout_defaults_to_thirty_seconds_for_connect_and_answers() -> None:
    client = Settings(_env_file=None).redis_store()  # type: ignore[call-arg]
    options = client.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (30.0, 30.0)
    client.close()
