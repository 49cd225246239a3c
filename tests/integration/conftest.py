"""Fixtures of the client's integration tests: the simulator's clock and ours, kept at one moment,
and client connections to it (`tests/support/fetching.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import pytest

from tests.support.fetching import Clocks, Workers
from tests.support.simulator import SimulatorProcess


@pytest.fixture
def clocks(simulator: SimulatorProcess) -> Clocks:
    return Clocks(simulator)


@pytest.fixture
def workers(simulator: SimulatorProcess, clocks: Clocks) -> Iterator[Workers]:
    with closing(Workers(simulator, clocks.client)) as opened:
        yield opened
