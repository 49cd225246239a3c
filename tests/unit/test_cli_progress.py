"""`sources progress`: the rate, the lag's trend and the estimate of when a backfill catches up,
as pure functions of the API's per-minute figures."""

from __future__ import annotations

import pytest

from cli.progress import CAUGHT_UP_SECONDS, lag_trend, rate, rows


def test_the_rate_is_the_mean_of_the_last_five_whole_minutes() -> None:
    assert rate([0] * 10 + [100, 200, 300, 400, 500, 7]) == 300  # the minute under way is left out
    assert rate([60, 60, 3]) == 60
    assert rate([5]) == 0
    assert rate([]) == 0


@pytest.mark.parametrize(
    ("lags", "trend", "eta"),
    [
        ([None] * 15, "-", None),
        ([600, 300, 60], "caught up", None),
        # A backfill: 10 h behind, 12 minutes of lag lost every minute -> 12 s per second.
        ([36000 - 720 * minute for minute in range(11)], "catching up", (36000 - 7200) / 12),
        ([None, 36000, None, 35280], "catching up", 35280 / 6),  # gaps do not matter
        ([7200 + 60 * minute for minute in range(11)], "falling behind", None),
        ([7200, 7200, 7200], "steady", None),
        ([None, None, 7200], "steady", None),
    ],
    ids=["nothing", "caught up", "backfill", "with gaps", "behind", "steady", "one point"],
)
def test_the_lag_trend_and_the_time_left(lags: list[int | None], trend: str, eta: float | None) -> None:
    found, left = lag_trend(lags)
    assert found == trend
    assert left == pytest.approx(eta) if eta is not None else left is None


def test_rows_join_the_progress_and_the_history_per_collection() -> None:
    progress = {
        "progress": [
            {
                "collection": "dlp",
                "collected": True,
                "recordsForwarded": 5000,
                "lagSeconds": 3000,
                "lagBasis": "records",
            },
            {
                "collection": "siem",
                "collected": False,
                "recordsForwarded": 0,
                "lagSeconds": None,
                "lagBasis": None,
            },
        ]
    }
    history = {
        "collections": [
            {"collection": "dlp", "forwarded": [1000] * 15, "lagSeconds": [3600 - 60 * m for m in range(11)]},
            {"collection": "siem", "forwarded": [0] * 15, "lagSeconds": [None] * 15},
        ]
    }
    dlp, siem = rows(progress, history)
    assert dlp.to_json() == {
        "collection": "dlp",
        "collected": True,
        "recordsForwarded": 5000,
        "recordsPerMinute": 1000.0,
        "lagSeconds": 3000,
        "lagBasis": "records",
        "etaSeconds": 3000,
        "trend": "catching up",
    }
    assert (siem.trend, siem.eta, siem.per_minute) == ("not collected yet", None, 0)
    assert CAUGHT_UP_SECONDS < 3000
