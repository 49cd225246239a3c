"""Per-collection progress for the Collection page: what a checkpoint says about time and lag."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from api.metrics import cursor_time
from api.routes.progress import stream_progress
from core.errors import ErrorType
from core.lifecycle.failures import Failing, by_collection
from core.lifecycle.states import StateError
from core.models import BatchCursor, WindowCursor, cursor_to_json
from core.store.coordination import Checkpoint

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_stream_without_a_checkpoint_is_not_collected_yet() -> None:
    shown = stream_progress("dlp", Checkpoint(None, 0, None), 0, 0, NOW)
    assert shown["collected"] is False
    assert shown["checkpointTime"] is None
    assert shown["lagSeconds"] is None
    assert shown["recordsForwarded"] == 0


def test_a_windowed_stream_is_as_far_as_its_window_start_and_lags_behind_it() -> None:
    cursor = WindowCursor(
        start=datetime(2026, 11, 25, 11, 50, tzinfo=UTC), end=datetime(2026, 11, 25, 11, 55, tzinfo=UTC)
    )
    committed = datetime(2026, 11, 25, 11, 59, tzinfo=UTC).timestamp()
    shown = stream_progress(
        "auditEvent", Checkpoint(json.dumps(cursor_to_json(cursor)), 3, committed), 42, 3, NOW
    )
    assert shown == {
        "collection": "auditEvent",
        "collected": True,
        "checkpointTime": "2026-11-25T11:50:00Z",
        "committedAt": "2026-11-25T11:59:00Z",
        "lagSeconds": 600,
        "lagBasis": "records",
        "caughtUp": None,
        "recordsForwarded": 42,
        "pagesFetched": 3,
        "error": None,
    }


def test_a_batch_stream_has_no_time_in_its_cursor_so_it_lags_from_its_last_commit() -> None:
    cursor = BatchCursor(token="next-page", caught_up=True)
    committed = datetime(2026, 11, 25, 11, 58, tzinfo=UTC).timestamp()
    shown = stream_progress("siem", Checkpoint(json.dumps(cursor_to_json(cursor)), 9, committed), 7, 2, NOW)
    assert shown["checkpointTime"] is None
    assert (shown["lagSeconds"], shown["lagBasis"], shown["caughtUp"]) == (120, "commit", True)


def test_a_cursor_this_release_cannot_read_still_shows_its_commit() -> None:
    committed = datetime(2026, 11, 25, 11, 59, 30, tzinfo=UTC).timestamp()
    shown = stream_progress("dlp", Checkpoint('{"kind": "future"}', 1, committed), 1, 1, NOW)
    assert shown["collected"] is True
    assert (shown["lagSeconds"], shown["lagBasis"]) == (30, "commit")


def test_siem_progress_says_what_it_reads_and_other_collections_say_nothing_of_it() -> None:
    from core.models import Handover, SiemMode

    handing = BatchCursor(
        token="t", caught_up=True, handover=Handover(datetime(2026, 11, 25, 11, tzinfo=UTC), "t")
    )
    committed = datetime(2026, 11, 25, 11, 58, tzinfo=UTC).timestamp()
    shown = stream_progress(
        "siem", Checkpoint(json.dumps(cursor_to_json(handing)), 2, committed), 5, 1, NOW, SiemMode.AUTO
    )
    assert shown["siem"]["siemMode"] == "auto"
    assert shown["siem"]["reading"] == "batch"
    assert shown["siem"]["handoverAt"] == "2026-11-25T11:00:00.000Z"

    streaming = WindowCursor(start=datetime(2026, 11, 25, 11, 58, tzinfo=UTC))
    shown = stream_progress(
        "siem", Checkpoint(json.dumps(cursor_to_json(streaming)), 3, committed), 5, 1, NOW, SiemMode.AUTO
    )
    assert shown["siem"]["reading"] == "streaming"
    assert shown["checkpointTime"] == "2026-11-25T11:58:00Z"  # streaming's lag counts from its records
    assert "siem" not in stream_progress("dlp", Checkpoint(None, 0, None), 0, 0, NOW)
    assert (
        stream_progress("siem", Checkpoint(None, 0, None), 0, 0, NOW, SiemMode.BATCH)["siem"]["reading"]
        is None
    )


def test_a_collection_in_error_shows_its_own_error_and_whether_it_stopped() -> None:
    failed = StateError(ErrorType.THIRD_PARTY_GENERIC, "Service Unavailable", 503, collection="auditEvent")
    shown = stream_progress(
        "auditEvent", Checkpoint(None, 0, None), 0, 0, NOW, failing=Failing(failed, True, 1.0)
    )
    assert shown["error"] == {
        "type": "ThirdPartyGeneric",
        "code": 503,
        "message": "Service Unavailable",
        "collection": "auditEvent",
        "stopped": True,
    }


def test_each_failing_collection_shows_the_failure_of_its_units_that_stopped_else_the_latest() -> None:
    def one(collection: str, at: float, stopped: bool) -> Failing:
        return Failing(StateError(ErrorType.THIRD_PARTY_GENERIC, f"at {at}", 503, collection), stopped, at)

    child_stopped, stream_retrying, dlp = one("siem", 1, True), one("siem", 5, False), one("dlp", 3, False)
    assert by_collection([stream_retrying, dlp, child_stopped]) == {"siem": child_stopped, "dlp": dlp}


def test_a_live_stream_that_reads_an_overlap_again_lags_from_the_end_of_its_last_window() -> None:
    # Given a stream that read up to 11:59:55 and starts its next window ten minutes before that
    read_to = datetime(2026, 11, 25, 11, 59, 55, tzinfo=UTC)
    cursor = WindowCursor(start=datetime(2026, 11, 25, 11, 49, 55, tzinfo=UTC), read_to=read_to)
    stored = json.dumps(cursor_to_json(cursor))
    shown = stream_progress("dlp", Checkpoint(stored, 3, NOW.timestamp()), 1, 1, NOW)
    # Then its lag is five seconds, not the overlap, on the page and in the metrics
    assert (shown["checkpointTime"], shown["lagSeconds"]) == ("2026-11-25T11:59:55Z", 5)
    assert cursor_time(stored) == read_to.timestamp()
