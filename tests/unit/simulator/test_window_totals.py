"""A window's `totalCount` is counted once per window and moment, never served stale."""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.settings import SimulatorSettings
from simulator.state import Simulation

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _simulation() -> Simulation:
    return Simulation(SimulatorSettings(seed=3, events_per_minute=5, start=START, backlog_hours=1))


def test_the_pages_of_one_window_asked_at_one_moment_count_it_once() -> None:
    sim, counted = _simulation(), []

    def count() -> int:
        counted.append(1)
        return 42

    totals = [sim.window_total(("dlp", 0, 10, 5, "{}"), count) for _ in range(3)]

    assert totals == [42, 42, 42]
    assert len(counted) == 1


def test_another_window_filter_or_moment_is_counted_on_its_own() -> None:
    sim = _simulation()
    sim.window_total(("dlp", 0, 10, 5, "{}"), lambda: 1)

    assert sim.window_total(("dlp", 0, 10, 6, "{}"), lambda: 2) == 2
    assert sim.window_total(("hold", 0, 10, 5, "{}"), lambda: 3) == 3
    assert sim.window_total(("dlp", 0, 10, 5, '{"x": 1}'), lambda: 4) == 4


def test_changed_options_or_a_reset_count_again() -> None:
    """The options say which records are visible (late arrivals): a total kept across a change
    would be stale."""
    sim = _simulation()
    key = ("dlp", 0, 10, 5, "{}")
    sim.window_total(key, lambda: 1)

    sim.configure({"late_share": 0.5})
    assert sim.window_total(key, lambda: 2) == 2
    sim.reset()
    assert sim.window_total(key, lambda: 3) == 3
