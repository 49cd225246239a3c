"""Collection decisions, pure: whether a stream may work, what a page becomes, what follows it.

The `fetch` and `forward` tasks (`tasks/`) do the I/O and ask here what to do: `gate` before any
Mimecast call, `batch_id` and `messages` for the destination, `after_page` for what comes next,
`after_failure` for an error (the contract's table, through `retry.decide`), `after_commit` for
the source's state once a page is delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.errors import ErrorType, SourceError
from core.lifecycle.retry import Decision, FailureStreak, RetryPolicy, Verdict, decide
from core.lifecycle.states import SourceStatus, State
from core.models import Record
from core.processing.jsontext import message_text
from core.processing.metadata import SourceMetadata
from core.processing.rules import RuleSet
from core.processing.rules import Verdict as RuleVerdict
from core.sinks.contract import Message


def stream_parts(stream: str) -> tuple[str, str]:
    """The source id and the `dataCollection` of a stream id (`keys.stream_of`'s inverse)."""
    source_id, separator, collection = stream.partition(":")
    if not separator or not source_id or not collection:
        raise ValueError(f"not a stream id: {stream!r}")
    return source_id, collection


class Gate(StrEnum):
    GO = "go"  # collect
    WAIT = "wait"  # a start is walking the source; its hand-off schedules the stream again
    QUIT = "quit"  # the stream has no business running: take it out of the due set


_COLLECTING = frozenset({State.AUTHENTICATED, State.COLLECTING, State.ERROR})
_STARTING = frozenset({State.PENDING, State.STARTED, State.INITIALIZED})


def gate(
    status: SourceStatus | None,
    collections: Sequence[str],
    collection: str,
    halted_generation: int | None,
) -> Gate:
    """Whether a stream of this source may call Mimecast now.

    A source that is gone or `Stopping`, a collection no longer configured, and a source halted in
    its current generation (a configuration error, or the retry window ran out) quit; a restart or
    an update starts a new generation, whose hand-off schedules the streams again.
    """
    if status is None or status.state is State.STOPPING or collection not in collections:
        return Gate.QUIT
    if status.state in _STARTING:
        return Gate.WAIT
    if halted_generation is not None and halted_generation >= status.generation:
        return Gate.QUIT
    if status.state is State.ERROR and status.error is not None and not _retried(status):
        return Gate.QUIT  # a configuration error (at start, too): no Mimecast call until an update
    return Gate.GO if status.state in _COLLECTING else Gate.QUIT


def _retried(status: SourceStatus) -> bool:
    return status.error is None or status.error.type is not ErrorType.THIRD_PARTY_CONFIG


def batch_id(stream: str, start: str, record_ids: Iterable[str]) -> str:
    """The destination's batch id for a page: the same page read again gets the same id.

    It covers where the page starts and which records it holds, so a re-read that finds other
    records (a later window, a changed listing) is a different batch and is never dropped as a
    copy of the first.
    """
    digest = hashlib.sha256(f"{stream}\n{start}\n".encode())
    for record_id in record_ids:
        digest.update(record_id.encode())
        digest.update(b"\n")
    collection = stream_parts(stream)[1]
    return f"{collection}-{digest.hexdigest()[:40]}"


@dataclass(frozen=True)
class Withheld:
    """A record the rules did not forward: excluded (silently) or unsafe to mask (reported)."""

    record_id: str
    verdict: RuleVerdict
    reason: str


def messages(
    collection: str, records: Sequence[tuple[str, str, str]], rules: RuleSet, metadata: SourceMetadata
) -> tuple[tuple[Message, ...], tuple[Withheld, ...]]:
    """Rules then metadata over a page's records, each `(id, log type, message text)` (the text as
    `message_text` gives it); the messages to write, and what was withheld."""
    kept: list[Message] = []
    withheld: list[Withheld] = []
    for record_id, kind, text in records:
        if rules:
            outcome = rules.apply(text)
            if outcome.text is None:
                withheld.append(Withheld(record_id, outcome.verdict, outcome.reason or ""))
                continue
            text = outcome.text
        kept.append(Message(record_id, kind, metadata.for_record(collection, kind), text))
    return tuple(kept), tuple(withheld)


def outgoing(record: Record) -> tuple[str, str, str]:
    """What a forward needs of a record: its id, its log type and its message text."""
    return record.id, record.kind, message_text(record.raw)


def after_page(finished: bool, now: float, poll_seconds: float) -> float | None:
    """When the stream is next due after a delivered page: None to go on at once (a backlog)."""
    return now + poll_seconds if finished else None


class Step(StrEnum):
    RETRY = "retry"  # due again at `at`
    STOP = "stop"  # halted or given up: the source is in Error, its streams leave the due set


@dataclass(frozen=True)
class FailureOutcome:
    step: Step
    at: float
    streak: FailureStreak
    # Whether the source goes to Error with a health event (throttling does neither).
    shown: bool
    # The health event's severity is Error (a halt or the window ran out), not Warning.
    final: bool


def after_failure(
    error: SourceError, streak: FailureStreak, now: float, jitter: float, policy: RetryPolicy
) -> FailureOutcome:
    """The contract's table: config errors stop at once, generic ones retry inside the window,
    throttling waits out the reset without showing as a failure (unless it outlasts the window)."""
    decision: Decision = decide(error, streak, now, jitter, policy)
    if decision.verdict is Verdict.RETRY:
        return FailureOutcome(Step.RETRY, decision.at, decision.streak, error.counts_as_failure, False)
    return FailureOutcome(Step.STOP, now, decision.streak, True, True)


@dataclass(frozen=True)
class CommitOutcome:
    to_collecting: bool
    resolve: bool


def after_commit(state: State, failing_streams: int) -> CommitOutcome:
    """After a delivered page: the first one moves the source to `Collecting`; in `Error`, the
    source recovers (and its health events resolve) once no stream of it is failing any more."""
    if state is State.AUTHENTICATED:
        return CommitOutcome(True, False)
    if state is State.ERROR and failing_streams == 0:
        return CommitOutcome(True, True)
    return CommitOutcome(False, False)


def quarantine_entry(
    collection: str, where: str, position: int, reason: str, text: str, limit: int
) -> Mapping[str, object]:
    """What is kept of a quarantined line: where it was, why, and its first `limit` characters."""
    return {
        "collection": collection,
        "where": where,
        "position": position,
        "reason": reason,
        "text": text[:limit],
        "truncated": len(text) > limit,
    }
