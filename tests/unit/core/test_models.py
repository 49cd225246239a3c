"""models: frozen values; cursors survive their stored form unchanged."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.models import (
    BatchCursor,
    Credentials,
    Cursor,
    KnownIds,
    Record,
    WindowCursor,
    cursor_from_json,
    cursor_to_json,
    digest,
)

times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda value: value.replace(microsecond=0))
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=_-", min_size=1, max_size=40)
digests = st.frozensets(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16), max_size=5)

window_cursors = st.builds(
    WindowCursor,
    start=times,
    end=st.none() | times,
    page_token=st.none() | tokens,
    tokens_seen=st.lists(tokens, max_size=3).map(tuple),
    known=st.builds(KnownIds, previous=digests, current=digests),
    last_page=digests,
    until=st.none() | times,
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


def test_known_ids_forget_the_older_generation_on_shift() -> None:
    known = KnownIds().add(frozenset({"a"}), cap=10).shift().add(frozenset({"b"}), cap=10)
    assert "a" in known
    assert "b" in known
    assert "a" not in known.shift()


def test_known_ids_stay_bounded_past_their_cap() -> None:
    known = KnownIds()
    for batch in range(10):
        known = known.add(frozenset(f"{batch}-{n}" for n in range(40)), cap=100)
    assert len(known) <= 200


def test_a_record_survives_its_message_form() -> None:
    record = Record(id="x", collection="dlp", kind="dlp", text='{"a":[1,{"b":null}]}')
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.raw == {"a": [1, {"b": None}]}


def test_digests_are_short_and_stable() -> None:
    assert digest("abc") == digest("abc")
    assert len(digest("abc")) == 16
