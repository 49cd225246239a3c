"""Shared fixtures: every service a test talks to is started by the test suite itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.redis_server import RedisServer
from tests.support.simulator import SimulatorProcess


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (`--dist loadgroup`, see pyproject)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module whose own fixtures are module- or session-scoped (a stack of processes, a browser,
    a simulator with its own options) runs on one xdist worker: what it starts, it starts once,
    instead of once on each worker its tests were spread over. An explicit `xdist_group` stays."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and item.get_closest_marker("xdist_group") is None and _shares(item, module):
            item.add_marker(pytest.mark.xdist_group(module.__name__))


def _shares(item: pytest.Item, module: ModuleType) -> bool:
    """Whether `item` uses a fixture of its own module that outlives one test."""
    info = getattr(item, "_fixtureinfo", None)
    used = [each for found in (info.name2fixturedefs.values() if info else ()) for each in found]
    return any(
        each.scope in ("module", "session") and getattr(each.func, "__module__", None) == module.__name__
        for each in used
    )


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
