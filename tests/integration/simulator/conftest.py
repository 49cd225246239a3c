"""Fixtures of the simulator's own tests: the shared simulator with a frozen clock, and a client of it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.simulator import SimulatorProcess, connect


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    """The shared simulator, reset, its clock frozen so that a listing and the truth see one moment."""
    simulator.control.post("/_sim/clock/freeze").raise_for_status()
    return simulator


@pytest.fixture
def api(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    """A client of `sim` holding a fresh bearer token."""
    client = connect(sim)
    try:
        yield client
    finally:
        client.close()
