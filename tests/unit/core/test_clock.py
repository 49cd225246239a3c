"""clock: time is an input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import ManualClock, SystemClock


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2024, 6, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(90)
    clock.sleep(30)
    assert clock.now() == datetime(2024, 6, 1, tzinfo=UTC) + timedelta(minutes=2)


def test_the_manual_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2024, 6, 1))


def test_the_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
