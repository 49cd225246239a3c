"""The pure decisions behind fetch and forward: the gate, batch ids, messages, what follows, recovery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.engine.decisions import (
    FollowUp,
    Gate,
    Next,
    after_commit,
    after_forward,
    after_listing,
    batch_id,
    first_started,
    gate,
    messages,
    take,
)
from core.engine.units import Unit, parse
from core.errors import ErrorType
from core.lifecycle.states import SourceStatus, State, StateError
from core.models import BatchCursor, Page, Record, WindowCursor
from core.processing.metadata import SourceMetadata
from core.processing.rules import Verdict, compile_rules
from core.sinks.contract import Batch
from core.sinks.memory import MemorySink

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ALL = ("siem", "dlp")


def status(state: State, generation: int = 3, error: ErrorType | None = None) -> SourceStatus:
    detail = StateError(error, "x") if error is not None else None
    return SourceStatus(state=state, since=NOW, generation=generation, error=detail)


@pytest.mark.parametrize(
    ("current", "collection", "halts", "expected"),
    [
        (None, "dlp", {}, Gate.QUIT),
        (status(State.STOPPING), "dlp", {}, Gate.QUIT),
        (status(State.COLLECTING), "auditEvent", {}, Gate.QUIT),
        (status(State.PENDING), "dlp", {}, Gate.WAIT),
        (status(State.STARTED), "dlp", {}, Gate.WAIT),
        (status(State.INITIALIZED), "dlp", {}, Gate.WAIT),
        (status(State.AUTHENTICATED), "dlp", {}, Gate.GO),
        (status(State.COLLECTING), "dlp", {}, Gate.GO),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_GENERIC), "dlp", {}, Gate.GO),
        (status(State.ERROR, error=ErrorType.FIRST_PARTY_GENERIC), "dlp", {}, Gate.GO),
        # Another collection's configuration error (a 403 on its endpoint) leaves this one collecting.
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_CONFIG), "dlp", {"siem": 3}, Gate.GO),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_CONFIG), "siem", {"siem": 3}, Gate.HALTED),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_GENERIC), "dlp", {"dlp": 3}, Gate.HALTED),
        # Refused credentials, or a start that stopped: every collection.
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_CONFIG), "dlp", {"*": 3}, Gate.HALTED),
        # A halt of an older generation was lifted by the update or restart that began this one.
        (status(State.COLLECTING, generation=4), "dlp", {"dlp": 3, "*": 3}, Gate.GO),
    ],
)
def test_the_gate_lets_a_stream_call_mimecast_only_while_its_source_collects_and_its_collection_is_not_halted(
    current: SourceStatus | None, collection: str, halts: dict[str, int], expected: Gate
) -> None:
    assert gate(current, ALL, collection, halts) is expected


DLP = Unit("s1", "dlp")


def test_a_batch_id_is_the_same_for_the_same_page_and_differs_when_the_records_do() -> None:
    first = batch_id(DLP, '{"kind":"window"}', ["a", "b"])
    assert first == batch_id(DLP, '{"kind":"window"}', ["a", "b"])
    assert first != batch_id(DLP, '{"kind":"window"}', ["a", "b", "c"])
    assert first != batch_id(DLP, '{"kind":"window","x":1}', ["a", "b"])
    assert first.startswith("dlp-")
    Batch(first, "s1", "c", "n", "dlp", ())  # a valid batch id for every sink


def test_the_same_lines_of_two_siem_files_are_two_batches() -> None:
    start = '{"files":["k"],"line":0}'
    one, other = parse("s1:siem@f.00000000000000aa"), parse("s1:siem@f.00000000000000bb")
    assert batch_id(one, start, ["x"]) != batch_id(other, start, ["x"])
    assert batch_id(one, start, ["x"]).startswith("siem-")


def record(number: int, kind: str = "receipt") -> Record:
    text = json.dumps({"type": kind, "id": f"r{number}", "subject": f"hello {number}"}, separators=(",", ":"))
    return Record(f"siem-{number}", "siem", kind, text)


def test_rules_then_metadata_make_the_messages_and_report_what_was_withheld() -> None:
    rules = compile_rules(
        [
            {"name": "no spam", "filterType": "Exclude", "regexp": '.*"type":"spam".*'},
            {"name": "bad mask", "filterType": "Mask", "regexp": '.*("subject":"hello 3").*'},
        ]
    )
    metadata = SourceMetadata.build(
        name="Mimecast", category="mail", collector="c1", fields={"_siemForward": True}
    )
    kept, withheld = messages(
        "siem",
        [record(n, k) for n, k in ((1, "receipt"), (2, "spam"), (3, "receipt"))],
        rules,
        metadata,
    )
    assert [m.id for m in kept] == ["siem-1"]
    assert kept[0].metadata["_siemEventID"] == "receipt"
    assert kept[0].metadata["_source"] == "Mimecast"
    assert kept[0].text == '{"type":"receipt","id":"r1","subject":"hello 1"}'
    assert [(w.record_id, w.verdict) for w in withheld] == [
        ("siem-2", Verdict.EXCLUDED),
        ("siem-3", Verdict.UNSAFE),
    ]


def test_a_page_written_twice_to_an_idempotent_destination_appears_once() -> None:
    sink = MemorySink()
    metadata = SourceMetadata.build(name="n", category=None, collector="c")
    kept, _ = messages("siem", [record(1), record(2)], compile_rules(None), metadata)
    page = Batch(batch_id(Unit("s", "siem"), "{}", [m.id for m in kept]), "s", "c", "n", "siem", kept)
    sink.write(page)
    sink.write(page)
    assert [m.id for m in sink.messages()] == ["siem-1", "siem-2"]


@pytest.mark.parametrize(
    ("finished", "complete", "expected"),
    [
        (False, False, FollowUp(Next.NOW, 100.0)),
        (True, False, FollowUp(Next.LATER, 400.0)),
        (False, True, FollowUp(Next.FINISH, 100.0)),
        (True, True, FollowUp(Next.FINISH, 100.0)),
    ],
)
def test_a_backlog_goes_on_at_once_a_caught_up_unit_waits_and_a_complete_child_finishes(
    finished: bool, complete: bool, expected: FollowUp
) -> None:
    assert after_forward(finished, complete, 100.0, 300.0) == expected


@pytest.mark.parametrize(
    ("caught_up", "waiting", "expected"),
    [
        (True, 0, FollowUp(Next.LATER, 400.0)),
        (False, 10, FollowUp(Next.NOW, 100.0)),
        (False, 200, FollowUp(Next.LATER, 105.0)),
    ],
)
def test_listing_goes_ahead_while_mimecast_has_more_and_few_files_wait(
    caught_up: bool, waiting: int, expected: FollowUp
) -> None:
    assert after_listing(caught_up, waiting, 200, 100.0, 300.0) == expected


@pytest.mark.parametrize(
    ("state", "failing", "recovering", "to_collecting", "resolve"),
    [
        (State.AUTHENTICATED, 0, False, True, False),
        (State.COLLECTING, 0, False, False, False),
        (State.ERROR, 0, False, True, True),
        (State.ERROR, 0, True, True, True),
        (State.ERROR, 1, True, False, False),
        (State.PENDING, 0, False, False, False),
        # The last failing stream delivers after another's recovery already showed Collecting:
        # the events its failure opened meanwhile resolve too.
        (State.COLLECTING, 0, True, False, True),
        (State.COLLECTING, 1, True, False, False),
    ],
)
def test_a_delivered_page_moves_the_source_to_collecting_and_recovers_it_once_no_stream_fails(
    state: State, failing: int, recovering: bool, to_collecting: bool, resolve: bool
) -> None:
    outcome = after_commit(state, failing, recovering)
    assert (outcome.to_collecting, outcome.resolve) == (to_collecting, resolve)


def chunk(first: int, count: int, files: tuple[str, ...] = ("a", "b"), index: int = 0) -> Page:
    start = BatchCursor(token="t", files=files, file_index=index, line=first, caught_up=True)
    end = BatchCursor(token="t", files=files, file_index=index, line=first + count, caught_up=True)
    records = tuple(record(n) for n in range(first, first + count))
    return Page("siem", records, start, end, finished=False)


def api_page(first: int, count: int) -> Page:
    window = WindowCursor(start=NOW, end=NOW)  # a window still open: more pages follow
    return Page("dlp", tuple(record(n) for n in range(first, first + count)), window, window, finished=False)


def test_pages_join_into_one_batch_up_to_the_limit() -> None:
    taken = take(iter([api_page(0, 3), api_page(3, 3), api_page(6, 3)]), limit=5)

    assert taken is not None
    assert [r.id for r in taken.records] == [f"siem-{n}" for n in range(6)]  # the page that crossed it


def test_a_batch_never_runs_past_the_end_of_a_childs_files_or_a_window() -> None:
    last = chunk(3, 2)
    done = Page("siem", last.records, last.start, BatchCursor(token="t", caught_up=True), finished=True)
    window_closed = Page("dlp", (), WindowCursor(start=NOW, end=NOW), WindowCursor(start=NOW), finished=False)

    assert take(iter([chunk(0, 3), done, chunk(9, 1)]), limit=100).end == done.end  # type: ignore[union-attr]
    assert take(iter([window_closed, chunk(0, 1)]), limit=100) == window_closed
    assert take(iter([]), limit=100) is None


def test_past_the_limit_a_batch_goes_on_to_the_end_of_the_file_it_is_in() -> None:
    ends_inside = chunk(0, 4)
    ends_file = Page(
        "siem",
        chunk(4, 2).records,
        ends_inside.end,
        BatchCursor(token="t", files=("a", "b"), file_index=1, line=0, caught_up=True),
        finished=False,
    )

    taken = take(iter([ends_inside, ends_file, chunk(0, 3, index=1)]), limit=3)

    assert taken is not None
    assert taken.end == ends_file.end  # not cut at 4 records inside file "a"
    assert len(taken.records) == 6


def test_a_file_far_longer_than_the_limit_is_still_cut() -> None:
    pieces = [chunk(n * 3, 3) for n in range(10)]  # one long file, three records a chunk
    taken = take(iter(pieces), limit=3)
    assert taken is not None
    assert len(taken.records) == 9  # three times the limit at most


@pytest.mark.parametrize(
    ("configured", "started"),
    [
        (["dlp", "siem", "auditEvent"], ["siem", "dlp", "auditEvent"]),
        (["holdMessageList", "dlp"], ["holdMessageList", "dlp"]),
        (["siem"], ["siem"]),
    ],
)
def test_a_sources_siem_stream_starts_first_and_the_others_as_configured(
    configured: list[str], started: list[str]
) -> None:
    assert first_started(configured) == started
