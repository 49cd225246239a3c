"""models: frozen values; cursors survive their stored form unchanged."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import FirstPartyGenericError, UnreadableCheckpoint
from core.models import (
    BatchCursor,
    Credentials,
    Cursor,
    KnownIds,
    Record,
    WindowCursor,
    cursor_from_json,
    cursor_of_text,
    cursor_to_json,
    digest,
)

times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda value: value.replace(microsecond=0))
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=_-", min_size=1, max_size=40)
hexes = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
digests = st.frozensets(hexes, max_size=5)

window_cursors = st.builds(
    WindowCursor,
    start=times,
    end=st.none() | times,
    page_token=st.none() | tokens,
    tokens_seen=st.lists(tokens, max_size=3).map(tuple),
    known=st.dictionaries(
        st.text(alphabet="0123456789abcdef", min_size=16, max_size=16), st.integers(0, 2**33)
    ).map(KnownIds.of),
    last_page=digests,
    until=st.none() | times,
    since=st.none() | times,
    read_to=st.none() | times,
)
batch_cursors = st.builds(
    BatchCursor,
    token=st.none() | tokens,
    start_date=st.none() | st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    next_token=st.none() | tokens,
    files=st.lists(st.text(min_size=1, max_size=30), max_size=4).map(tuple),
    file_index=st.integers(0, 4),
    line=st.integers(0, 10**9),
    caught_up=st.booleans(),
    tokens_seen=st.lists(tokens, max_size=3).map(tuple),
)


@given(window_cursors | batch_cursors)
def test_every_cursor_comes_back_equal_from_its_stored_json(cursor: Cursor) -> None:
    stored = json.dumps(cursor_to_json(cursor))
    assert cursor_from_json(json.loads(stored)) == cursor


def test_a_secret_never_shows_in_the_repr_of_credentials() -> None:
    credentials = Credentials("my-id", "my-very-secret")
    assert "my-very-secret" not in repr(credentials)
    assert "my-very-secret" not in credentials.key
    assert credentials.key != Credentials("my-id", "other").key


def test_known_ids_forget_only_the_ids_timed_before_a_moment() -> None:
    known = KnownIds().add({"a": 100, "b": 200}, cap=10).add({"c": 300}, cap=10)
    assert all(key in known.since(0) for key in "abc")
    kept = known.since(200)
    assert "a" not in kept
    assert "b" in kept
    assert "c" in kept


def test_an_id_seen_again_keeps_its_latest_time() -> None:
    known = KnownIds().add({"a": 100}, cap=10).add({"a": 500}, cap=10).add({"a": 300}, cap=10)
    assert known.time_of("a") == 500
    assert "a" in known.since(400)


def test_known_ids_stay_bounded_past_their_cap_forgetting_the_oldest_first() -> None:
    known = KnownIds()
    for batch in range(10):
        known = known.add({f"{batch}-{n}": batch * 100 + n for n in range(40)}, cap=100)
    assert len(known) == 100
    assert "9-39" in known
    assert "0-0" not in known


def test_equal_memories_compare_equal_whatever_order_they_were_built_in() -> None:
    assert KnownIds().add({"a": 1, "b": 2}, cap=5) == KnownIds().add({"b": 2}, cap=5).add({"a": 1}, cap=5)


def test_a_cursor_stored_by_an_earlier_release_remembers_its_ids_at_its_start() -> None:
    stored = {
        "kind": "window",
        "start": "2024-06-01T00:00:00+00:00",
        "end": None,
        "knownPrevious": ["aa"],
        "knownCurrent": ["bb"],
    }
    cursor = cursor_from_json(stored)
    assert isinstance(cursor, WindowCursor)
    moment = int(datetime(2024, 6, 1, tzinfo=UTC).timestamp())
    assert cursor.known == KnownIds.of({"aa": moment, "bb": moment})
    assert cursor.read_to is None


def test_a_record_survives_its_message_form() -> None:
    record = Record(id="x", collection="dlp", kind="dlp", text='{"a":[1,{"b":null}]}')
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.raw == {"a": [1, {"b": None}]}


def test_digests_are_short_and_stable() -> None:
    assert digest("abc") == digest("abc")
    assert len(digest("abc")) == 16


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ("{}", "missing 'kind'"),
        ("null", "TypeError"),
        ("not json", "JSONDecodeError"),
        ('{"kind": "window"}', "missing 'start'"),
    ],
)
def test_a_stored_checkpoint_this_release_cannot_read_is_a_failure_that_names_the_remedy(
    stored: str, named: str
) -> None:
    with pytest.raises(UnreadableCheckpoint) as raised:
        cursor_of_text(stored)
    assert isinstance(raised.value, FirstPartyGenericError)  # retried in the window, then halted
    assert named in raised.value.summary
    assert "reset the collection" in raised.value.summary
