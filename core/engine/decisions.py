"""What a fetch and a forward must do, decided purely: the gate, what a page becomes, what follows.

The executor in `tasks/` does the I/O and asks here: `gate` before any Mimecast call, `batch_id`
and `messages` for the destination, `after_forward` and `after_listing` for what comes next,
`after_commit` for the source's state once a page is delivered, `taken` for how many pages make
one batch. Failures are decided in `core.lifecycle.failures`, for the start path too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

from core.engine.units import Unit
from core.lifecycle.failures import halted
from core.lifecycle.states import SourceStatus, State
from core.mimecast.pacing import Paced
from core.models import BatchCursor, Page, Record, WindowCursor, digest
from core.processing.metadata import SourceMetadata
from core.processing.rules import RuleSet
from core.processing.rules import Verdict as RuleVerdict
from core.sinks.contract import Message


class Gate(StrEnum):
    GO = "go"  # collect
    WAIT = "wait"  # a start is walking the source; its hand-off schedules the stream again
    QUIT = "quit"  # the stream has no business running: take it out of the due set
    HALTED = "halted"  # its collection is halted until an update or a restart: out of the due set,
    # and a child gives its slot back to the other collections' children


_COLLECTING = frozenset({State.AUTHENTICATED, State.COLLECTING, State.ERROR})
_STARTING = frozenset({State.PENDING, State.STARTED, State.INITIALIZED})


def gate(
    status: SourceStatus | None,
    collections: Sequence[str],
    collection: str,
    halts: Mapping[str, int],
) -> Gate:
    """Whether a stream of this source may call Mimecast now.

    A source that is gone or `Stopping` and a collection no longer configured quit; a collection
    halted in the source's current generation (its own configuration error or retry window, or a
    halt of every collection: refused credentials, a start that stopped) is halted, while the
    others go on; a restart or an update starts a new generation, whose hand-off schedules the
    streams again.
    """
    if status is None or status.state is State.STOPPING or collection not in collections:
        return Gate.QUIT
    if status.state in _STARTING:
        return Gate.WAIT
    if halted(halts, collection, status.generation):
        return Gate.HALTED
    return Gate.GO if status.state in _COLLECTING else Gate.QUIT


def batch_id(unit: Unit, start: str, record_ids: Iterable[str]) -> str:
    """The destination's batch id for a page: the same page read again gets the same id.

    It covers the unit and where the page starts (for a SIEM file: the file key and first line),
    and which records it holds, so a re-read that finds other records (a later window, a changed
    listing) is a different batch and is never dropped as a copy of the first.
    """
    digest = hashlib.sha256(f"{unit.id}\n{start}\n".encode())
    ids = list(record_ids)  # each id followed by a newline, joined in C: it runs once per record
    digest.update(("\n".join(ids) + "\n").encode() if ids else b"")
    return f"{unit.collection}-{digest.hexdigest()[:40]}"


@dataclass(frozen=True)
class Withheld:
    """A record the rules did not forward: excluded (silently) or unsafe to mask (reported)."""

    record_id: str
    verdict: RuleVerdict
    reason: str


def messages(
    collection: str, records: Sequence[Record], rules: RuleSet, metadata: SourceMetadata
) -> tuple[tuple[Message, ...], tuple[Withheld, ...]]:
    """Rules then metadata over a page's records (each one's text as Mimecast sent it); the
    messages to write, and what was withheld."""
    if not rules:  # the common case, in one comprehension: it runs once per record of every page
        for_kind = {kind: metadata.for_record(collection, kind) for kind in set(map(_KIND, records))}
        return tuple([Message(each.id, each.kind, for_kind[each.kind], each.text) for each in records]), ()
    kept: list[Message] = []
    withheld: list[Withheld] = []
    for each in records:
        outcome = rules.apply(each.text)
        if outcome.text is None:
            withheld.append(Withheld(each.id, outcome.verdict, outcome.reason or ""))
            continue
        kept.append(Message(each.id, each.kind, metadata.for_record(collection, each.kind), outcome.text))
    return tuple(kept), tuple(withheld)


_KIND = attrgetter("kind")  # in C: once per record of every page


def first_started(collections: Sequence[str]) -> list[str]:
    """The order a source's streams start in: SIEM first (it lists files that every idle process
    can take as children, and carries most of a tenant's data), then the others as configured."""
    return sorted(collections, key=lambda collection: collection != "siem")


class Next(StrEnum):
    NOW = "now"  # more waits: the next fetch of this unit is queued at once
    LATER = "later"  # due again at `at`
    FINISH = "finish"  # a child read all it owns: it leaves, and its slot goes to the next child


@dataclass(frozen=True)
class FollowUp:
    next: Next
    at: float


def after_forward(finished: bool, complete: bool, now: float, poll_seconds: float) -> FollowUp:
    """What follows a delivered page: finish a completed child, go on with a backlog, or wait."""
    if complete:
        return FollowUp(Next.FINISH, now)
    if finished:
        return FollowUp(Next.LATER, now + poll_seconds)
    return FollowUp(Next.NOW, now)


def after_listing(caught_up: bool, waiting: int, ahead: int, now: float, poll_seconds: float) -> FollowUp:
    """What follows a recorded SIEM listing page: list on at once while Mimecast has more and fewer
    than `ahead` files wait for a slot; otherwise look again later."""
    if caught_up:
        return FollowUp(Next.LATER, now + poll_seconds)
    if waiting >= ahead:
        return FollowUp(Next.LATER, now + min(poll_seconds, LIST_AHEAD_WAIT_SECONDS))
    return FollowUp(Next.NOW, now)


LIST_AHEAD_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class CommitOutcome:
    to_collecting: bool
    resolve: bool


def after_commit(state: State, failing_streams: int, recovering: bool = False) -> CommitOutcome:
    """After a delivered page: the first one moves the source to `Collecting`; in `Error`, the
    source recovers (and its health events resolve) once no stream of it is failing any more.

    `recovering`: the stream that delivered had been failing. When it was the last one, its events
    resolve even if the source already shows `Collecting`: another stream's recovery may have moved
    the state while this stream's failure was still opening its event, which would stay open.
    """
    if state is State.AUTHENTICATED:
        return CommitOutcome(True, False)
    if state is State.ERROR and failing_streams == 0:
        return CommitOutcome(True, True)
    if state is State.COLLECTING and failing_streams == 0 and recovering:
        return CommitOutcome(False, True)
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


def joined(first: Page, then: Page) -> Page:
    """Two consecutive pages as one (`then` starts where `first` ends)."""
    return Page(
        first.stream,
        first.records + then.records,
        first.start,
        then.end,
        then.finished,
        first.quarantined + then.quarantined,
        first.gaps + then.gaps,
    )


def boundary(page: Page) -> bool:
    """Whether the page closed a time window or finished a SIEM file or listing: what follows
    depends on when it is read, so a batch ends here (a re-read of the start gives the same batch)."""
    if isinstance(page.end, WindowCursor):
        return page.end.end is None
    return not isinstance(page.start, BatchCursor) or page.start.files != page.end.files


def take(pages: Iterable[Page], limit: int, wanted: frozenset[str] = frozenset()) -> Page | None:
    """Consecutive pages as one batch of about `limit` records, never past a boundary; None if
    there was no page. The caller closes the iterable (an open file download ends with it).

    Past `limit`, the batch goes on to the end of the SIEM file it is in (up to `OVERRUN` times
    `limit`): a batch that stopped inside a file would make the next task download and gunzip the
    file again up to where this one stopped. When the rate budget paces a call (`Paced`) after a
    page, the batch ends there; before any page, `Paced` goes to the caller.

    `wanted` holds the id digests of a pinned page read again (`core.engine.pins`): past `limit`,
    the batch goes on until it holds them all (records Mimecast added before them push them onto
    a later page), up to `OVERRUN` times `limit` or the window's end. A pinned re-read that the
    rate budget cuts short before it holds them all raises `Paced`: handing out part of the pinned
    page would make another batch of records already written; the unit waits for the budget.
    """
    taken: Page | None = None
    lacking = set(wanted)
    try:
        for page in pages:
            taken = page if taken is None else joined(taken, page)
            if lacking:
                lacking.difference_update(digest(record.id) for record in page.records)
            if page.finished or boundary(page):
                break
            size = len(taken.records)
            if size >= OVERRUN * limit or (size >= limit and _between_files(page) and not lacking):
                break
    except Paced:
        if taken is None or lacking:
            raise
        # The rate budget paces the next call: the pages read so far go on; the next fetch waits.
    return taken


OVERRUN = 3


def _between_files(page: Page) -> bool:
    """Whether the page ends where a file ends (or ends no file at all: an API page)."""
    return not isinstance(page.end, BatchCursor) or page.end.line == 0
