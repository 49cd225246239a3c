"""Shared fixtures: every service a test talks to is started by the test suite itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.simulator import SimulatorProcess


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server (AOF on) in a temporary directory, removed afterwards."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    server = SimulatorProcess(tmp_path_factory.mktemp("simulator"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def simulator(shared_simulator: SimulatorProcess) -> SimulatorProcess:
    """The session's simulator, reset to its starting state (clock, faults, credentials, quotas)."""
    shared_simulator.reset()
    return shared_simulator


@pytest.fixture
def start_simulator(tmp_path: Path) -> Iterator[Callable[..., SimulatorProcess]]:
    """Start a simulator of one's own with other options (seed, rates, start time ...)."""
    started: list[SimulatorProcess] = []

    def start(**options: object) -> SimulatorProcess:
        server = SimulatorProcess(tmp_path, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
