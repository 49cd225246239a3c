"""The pure decisions behind fetch and forward: the gate, batch ids, messages, failures, recovery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import (
    ErrorType,
    FirstPartyGenericError,
    RateLimited,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
)
from core.lifecycle.collection import (
    Gate,
    Step,
    after_commit,
    after_failure,
    after_page,
    batch_id,
    gate,
    messages,
    outgoing,
    stream_parts,
)
from core.lifecycle.retry import FailureStreak, RetryPolicy
from core.lifecycle.states import SourceStatus, State, StateError
from core.models import Record
from core.processing.metadata import SourceMetadata
from core.processing.rules import Verdict, compile_rules
from core.sinks.contract import Batch
from core.sinks.memory import MemorySink

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ALL = ("siem", "dlp")
POLICY = RetryPolicy(window_seconds=5400, base_seconds=5, cap_seconds=300)


def status(state: State, generation: int = 3, error: ErrorType | None = None) -> SourceStatus:
    detail = StateError(error, "x") if error is not None else None
    return SourceStatus(state=state, since=NOW, generation=generation, error=detail)


@pytest.mark.parametrize(
    ("current", "collection", "halted", "expected"),
    [
        (None, "dlp", None, Gate.QUIT),
        (status(State.STOPPING), "dlp", None, Gate.QUIT),
        (status(State.COLLECTING), "auditEvent", None, Gate.QUIT),
        (status(State.PENDING), "dlp", None, Gate.WAIT),
        (status(State.STARTED), "dlp", None, Gate.WAIT),
        (status(State.INITIALIZED), "dlp", None, Gate.WAIT),
        (status(State.AUTHENTICATED), "dlp", None, Gate.GO),
        (status(State.COLLECTING), "dlp", None, Gate.GO),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_GENERIC), "dlp", None, Gate.GO),
        (status(State.ERROR, error=ErrorType.FIRST_PARTY_GENERIC), "dlp", None, Gate.GO),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_CONFIG), "dlp", None, Gate.QUIT),
        (status(State.ERROR, error=ErrorType.THIRD_PARTY_GENERIC), "dlp", 3, Gate.QUIT),
        (status(State.COLLECTING, generation=4), "dlp", 3, Gate.GO),
    ],
)
def test_the_gate_lets_a_stream_call_mimecast_only_while_its_source_collects(
    current: SourceStatus | None, collection: str, halted: int | None, expected: Gate
) -> None:
    assert gate(current, ALL, collection, halted) is expected


def test_a_stream_id_names_its_source_and_collection() -> None:
    assert stream_parts("0a1b2c3d4e5f6a7b:auditEvent") == ("0a1b2c3d4e5f6a7b", "auditEvent")
    with pytest.raises(ValueError, match="stream id"):
        stream_parts("no-collection")


def test_a_batch_id_is_the_same_for_the_same_page_and_differs_when_the_records_do() -> None:
    first = batch_id("s1:dlp", '{"kind":"window"}', ["a", "b"])
    assert first == batch_id("s1:dlp", '{"kind":"window"}', ["a", "b"])
    assert first != batch_id("s1:dlp", '{"kind":"window"}', ["a", "b", "c"])
    assert first != batch_id("s1:dlp", '{"kind":"window","x":1}', ["a", "b"])
    assert first.startswith("dlp-")
    Batch(first, "s1", "c", "n", "dlp", ())  # a valid batch id for every sink


def record(number: int, kind: str = "receipt") -> Record:
    raw = {"type": kind, "id": f"r{number}", "subject": f"hello {number}"}
    return Record(f"siem-{number}", "siem", kind, raw)


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
        [outgoing(record(n, k)) for n, k in ((1, "receipt"), (2, "spam"), (3, "receipt"))],
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
    kept, _ = messages("siem", [outgoing(record(1)), outgoing(record(2))], compile_rules(None), metadata)
    page = Batch(batch_id("s:siem", "{}", [m.id for m in kept]), "s", "c", "n", "siem", kept)
    sink.write(page)
    sink.write(page)
    assert [m.id for m in sink.messages()] == ["siem-1", "siem-2"]


def test_a_backlog_goes_on_at_once_and_a_caught_up_stream_waits_for_the_poll() -> None:
    assert after_page(False, 100.0, 300.0) is None
    assert after_page(True, 100.0, 300.0) == 400.0


@pytest.mark.parametrize(
    ("error", "streak", "now", "step", "shown", "final"),
    [
        (ThirdPartyConfigError("401", status=401), FailureStreak(), 10, Step.STOP, True, True),
        (ThirdPartyGenericError("503", status=503), FailureStreak(), 10, Step.RETRY, True, False),
        (FirstPartyGenericError("sink down"), FailureStreak(0, 3), 5399, Step.RETRY, True, False),
        (FirstPartyGenericError("sink down"), FailureStreak(0, 30), 5400, Step.STOP, True, True),
        (RateLimited("429", wait_seconds=7), FailureStreak(), 10, Step.RETRY, False, False),
        (RateLimited("429", wait_seconds=7), FailureStreak(0, 0), 5400, Step.STOP, True, True),
    ],
)
def test_failures_follow_the_contracts_table(
    error: Exception, streak: FailureStreak, now: float, step: Step, shown: bool, final: bool
) -> None:
    outcome = after_failure(error, streak, now, 0.5, POLICY)  # type: ignore[arg-type]
    assert (outcome.step, outcome.shown, outcome.final) == (step, shown, final)


def test_throttling_waits_out_the_reset_without_growing_the_backoff() -> None:
    outcome = after_failure(RateLimited("429", wait_seconds=7), FailureStreak(), 10, 0.5, POLICY)
    assert outcome.at == 17
    assert outcome.streak.attempts == 0


@pytest.mark.parametrize(
    ("state", "failing", "to_collecting", "resolve"),
    [
        (State.AUTHENTICATED, 0, True, False),
        (State.COLLECTING, 0, False, False),
        (State.ERROR, 0, True, True),
        (State.ERROR, 1, False, False),
        (State.PENDING, 0, False, False),
    ],
)
def test_a_delivered_page_moves_the_source_to_collecting_and_recovers_it_once_no_stream_fails(
    state: State, failing: int, to_collecting: bool, resolve: bool
) -> None:
    outcome = after_commit(state, failing)
    assert (outcome.to_collecting, outcome.resolve) == (to_collecting, resolve)
