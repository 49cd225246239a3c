"""The per-minute history's pure parts: reading a ring of slots back as a series, and the lag of a
checkpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.models import BatchCursor, WindowCursor, cursor_to_json
from core.store.coordination import Checkpoint
from core.store.history import MINUTES, SLOT, lag_of, minute_of, series_from

NOW = datetime(2026, 11, 29, 12, 30, 45, tzinfo=UTC)


def ring(*slots: tuple[int, int, int]) -> bytes:
    """Bytes of a ring holding (minute, records, lag + 1) slots at their places."""
    raw = bytearray(MINUTES * SLOT.size)
    for minute, count, lag in slots:
        SLOT.pack_into(raw, (minute % MINUTES) * SLOT.size, minute, count, lag)
    return bytes(raw)


def test_an_empty_ring_is_a_day_of_zero_records_and_unknown_lag() -> None:
    series = series_from(b"", NOW)
    assert len(series.forwarded) == len(series.lag) == MINUTES
    assert set(series.forwarded) == {0}
    assert set(series.lag) == {None}
    assert series.start == datetime(2026, 11, 28, 12, 31, tzinfo=UTC)  # the minute of NOW is the last


def test_each_slot_lands_on_its_minute_and_slots_older_than_a_day_are_left_out() -> None:
    now = minute_of(NOW)
    stale = now - MINUTES  # the same slot a day ago, never overwritten since
    raw = ring((now, 7, 31), (now - 2, 3, 0), (stale + 1, 9, 1), (stale - 5, 99, 5))
    series = series_from(raw, NOW)
    assert series.forwarded[-1] == 7
    assert series.lag[-1] == 30
    assert (series.forwarded[-3], series.lag[-3]) == (3, (MINUTES - 3) * 60)  # grown since minute 0
    assert (series.forwarded[0], series.lag[0]) == (9, 0)
    assert sum(series.forwarded) == 19


def test_a_stalled_streams_lag_rises_a_minute_a_minute_until_its_next_commit() -> None:
    now = minute_of(NOW)
    series = series_from(ring((now - 10, 4, 301), (now, 2, 31)), NOW, minutes=12)
    assert series.lag == (None, 300, 360, 420, 480, 540, 600, 660, 720, 780, 840, 30)


def test_a_shorter_window_keeps_the_newest_minutes() -> None:
    now = minute_of(NOW)
    series = series_from(ring((now, 1, 1), (now - 60, 5, 1)), NOW, minutes=60)
    assert len(series.forwarded) == 60
    assert series.forwarded[-1] == 1
    assert sum(series.forwarded) == 1
    assert series.to_json()["start"] == "2026-11-29T11:31:00Z"


def checkpoint(cursor: object | None, committed_at: float | None = None) -> Checkpoint:
    text = None if cursor is None else json.dumps(cursor_to_json(cursor))  # type: ignore[arg-type]
    return Checkpoint(text, 1 if text else 0, committed_at)


@pytest.mark.parametrize(
    ("given", "lag"),
    [
        (checkpoint(None), (None, None)),
        (checkpoint(WindowCursor(start=NOW - timedelta(hours=2))), (7200, "records")),
        (checkpoint(WindowCursor(start=NOW + timedelta(seconds=5))), (0, "records")),
        (checkpoint(BatchCursor(token="t"), committed_at=NOW.timestamp() - 90), (90, "commit")),
        (Checkpoint('{"kind": "from-a-later-release"}', 3, NOW.timestamp() - 30), (30, "commit")),
    ],
    ids=["never committed", "window", "window ahead of the clock", "batch", "unreadable"],
)
def test_the_lag_counts_from_the_records_or_else_from_the_last_commit(
    given: Checkpoint, lag: tuple[int | None, str | None]
) -> None:
    assert lag_of(given, NOW) == lag
