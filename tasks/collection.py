"""The work of `fetch` and `forward` on one stream: thin glue over core, decisions in
`core.lifecycle.collection`.

`fetch` takes the stream's lease, reads one page from the checkpoint and returns it as the
`forward` task's payload (ids, the lease's token and epoch, cursors, records: never a secret).
`forward` applies the rules and the metadata, writes the batch under a deterministic id, and only
then commits the new checkpoint by compare-and-set; a stale lease or checkpoint commits nothing.
Every error is handled once, in `Failure.handle`, as the contract's table says.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.errors import SourceError
from core.lifecycle import health
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
    quarantine_entry,
    stream_parts,
)
from core.lifecycle.health import HealthEvent, Severity, Status
from core.lifecycle.states import IllegalTransition, State, StateError
from core.mimecast import windows
from core.mimecast.auth import Session, TokenFlow
from core.mimecast.fetcher import Fetcher
from core.mimecast.streams import spec_for
from core.models import (
    BatchCursor,
    Credentials,
    Cursor,
    Gap,
    Page,
    WindowCursor,
    cursor_from_json,
    cursor_to_json,
)
from core.processing.metadata import SourceMetadata
from core.processing.rules import Verdict as RuleVerdict
from core.processing.rules import compile_rules
from core.sinks.contract import Batch
from core.store import counters, keys
from core.store.outcomes import NotFound, StaleVersion
from core.store.sources import StoredSource
from core.store.streams import Lease, StaleCommit
from worker.wiring import Services

log = logging.getLogger(__name__)

GAP_EVENT = "CollectionGap"


def _json(cursor: Cursor) -> str:
    return json.dumps(cursor_to_json(cursor), separators=(",", ":"), sort_keys=True)


@dataclass
class StreamWork:
    """One task's work on one stream."""

    svc: Services
    stream: str

    def __post_init__(self) -> None:
        self.source_id, self.collection = stream_parts(self.stream)
        self.labels = {"source": self.source_id, "collection": self.collection}

    @property
    def now(self) -> float:
        return self.svc.clock.now().timestamp()

    @contextmanager
    def in_flight(self, what: str) -> Iterator[bool]:
        """Hold a claim of in-flight work on the source (delete waits for it); False if Stopping."""
        holder = f"{what}:{self.stream}:{uuid.uuid4().hex[:8]}"
        ttl_ms = int(self.svc.settings.task_time_limit_seconds * 1000) + 5000
        claimed = self.svc.sources.begin_work(self.source_id, holder, int(self.now * 1000), ttl_ms)
        try:
            yield claimed
        finally:
            if claimed:
                self.svc.sources.end_work(self.source_id, holder)

    def admitted(self, source: StoredSource | None) -> bool:
        """The gate before any Mimecast call; a stream that must quit leaves the due set."""
        verdict = gate(
            source.status if source is not None else None,
            source.config.data_collection if source is not None else (),
            self.collection,
            self.svc.collection.halted(self.source_id) if source is not None else None,
        )
        if verdict is Gate.QUIT:
            self.svc.streams.unschedule(self.stream)
            log.info(
                "stream %s quits: its source is gone, stopping, halted or no longer collects it", self.stream
            )
        return verdict is Gate.GO

    # fetch
    def fetch(self) -> dict[str, Any] | None:
        """One page as the forward payload, or None when there is nothing to forward now."""
        with self.in_flight("fetch") as claimed:
            if not claimed:
                self.svc.streams.unschedule(self.stream)
                return None
            source = self.svc.sources.get_optional(self.source_id)
            if source is None or not self.admitted(source):
                return None
            lease = self.svc.streams.acquire(self.stream, self.svc.settings.lease_ttl_seconds)
            if lease is None:
                log.info("stream %s is leased by another worker; this fetch steps aside", self.stream)
                return None
            handed_off = False
            try:
                payload = self._fetch(source, lease)
                handed_off = payload is not None
                return payload
            except StaleCommit as stale:
                log.info("stream %s: %s; this fetch steps aside", self.stream, stale)
                return None
            except SourceError as error:
                Failure(self, source).handle(error)
                return None
            finally:
                if not handed_off:
                    self.svc.streams.release(lease)

    def _fetch(self, source: StoredSource, lease: Lease) -> dict[str, Any] | None:
        settings = self.svc.settings
        self.svc.streams.schedule(self.stream, self.now + settings.stream_hold_seconds)
        spec = spec_for(self.collection)
        checkpoint = self.svc.streams.checkpoint(self.stream)
        now = self.svc.clock.now()
        cursor = (
            cursor_from_json(json.loads(checkpoint.cursor))
            if checkpoint.cursor
            else windows.initial_cursor(spec, now)
        )
        version = checkpoint.version
        if isinstance(cursor, BatchCursor) and (moved := windows.batch_into_reach(spec, cursor, now)):
            # A reset asked for days Mimecast no longer lists: report them, then list from the reach.
            cursor, lost = moved
            Events(self, source).gap(lost)
            version = self.svc.streams.commit(lease, version, _json(cursor), self.now)
        if isinstance(cursor, WindowCursor) and cursor.end is None:
            # Fix the window first, so that a re-read of this checkpoint asks for the same page.
            opened = windows.open_window(spec, cursor, now)
            if opened is None:
                self._not_due()
                return None
            cursor, gap = opened
            if gap is not None:
                Events(self, source).gap(gap)
            version = self.svc.streams.commit(lease, version, _json(cursor), self.now)
        page = self._first_page(source, spec.name, cursor)
        if page is None:
            self._not_due()
            return None
        self.svc.counters.add(counters.PAGES_FETCHED, self.labels)
        for gap in page.gaps:
            Events(self, source).gap(gap)
        limit = settings.quarantine_text_chars
        return {
            "stream": self.stream,
            "lease": {"token": lease.token, "epoch": lease.epoch},
            "version": version,
            "start": _json(page.start),
            "end": _json(page.end),
            "finished": page.finished,
            "records": [outgoing(record) for record in page.records],
            "quarantined": [
                quarantine_entry(self.collection, q.source, q.position, q.reason, q.text, limit)
                for q in page.quarantined
            ],
        }

    def _first_page(self, source: StoredSource, spec_name: str, cursor: Cursor) -> Page | None:
        """The next pages from `cursor` as one, up to `MAX_RECORDS_PER_CHUNK` records, never past the
        end of a time window or of a SIEM listing: a re-read of the same checkpoint gives the same."""
        svc = self.svc
        credentials = Credentials(source.config.client_id, svc.sources.secret(self.source_id))
        flow = TokenFlow(svc.tokens, svc.mimecast.request_token, svc.clock)
        session = Session(svc.mimecast, flow, credentials)
        fetcher = Fetcher(session, svc.files, svc.clock, listings=svc.listings)
        spec = spec_for(self.collection)
        assert spec.name == spec_name
        pages = fetcher.pages(spec, cursor)
        taken: Page | None = None
        try:
            for page in pages:
                taken = page if taken is None else joined(taken, page)
                if page.finished or len(taken.records) >= svc.settings.max_records_per_chunk:
                    break
                if boundary(page):
                    break
            return taken
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # an open batch-file download ends now

    def _not_due(self) -> None:
        self.svc.streams.schedule(self.stream, self.now + self.svc.settings.poll_interval_seconds)

    # forward
    def forward(self, payload: dict[str, Any]) -> bool:
        """Deliver the page, then commit its end; True when the next page should be fetched now."""
        with self.in_flight("forward") as claimed:
            if not claimed:
                return False
            source = self.svc.sources.get_optional(self.source_id)
            if source is None:
                return False
            lease = Lease(self.stream, str(payload["lease"]["token"]), int(payload["lease"]["epoch"]))
            try:
                return self._forward(source, lease, payload)
            except StaleCommit as stale:
                log.info("stream %s: %s; the page is left to the lease's holder", self.stream, stale)
                return False
            except SourceError as error:
                Failure(self, source).handle(error)
                return False
            finally:
                self.svc.streams.release(lease)

    def _forward(self, source: StoredSource, lease: Lease, payload: dict[str, Any]) -> bool:
        svc = self.svc
        svc.streams.renew(lease, svc.settings.lease_ttl_seconds)
        records = [(str(item[0]), str(item[1]), str(item[2])) for item in payload["records"]]
        rules = compile_rules(source.config.filters)
        kept, withheld = messages(self.collection, records, rules, self._metadata(source))
        batch = Batch(
            id=batch_id(self.stream, str(payload["start"]), (record[0] for record in records)),
            source_id=self.source_id,
            collector=self._collector_name(source),
            source=source.config.name,
            collection=self.collection,
            messages=kept,
        )
        if kept:
            svc.sink.write(batch)
        svc.streams.commit(lease, int(payload["version"]), str(payload["end"]), self.now)
        svc.counters.add(counters.RECORDS_FORWARDED, self.labels, len(kept))
        self._quarantine(payload["quarantined"], [w for w in withheld if w.verdict is RuleVerdict.UNSAFE])
        self._recovered(source)
        due = after_page(bool(payload["finished"]), self.now, svc.settings.poll_interval_seconds)
        if due is None:
            svc.streams.schedule(self.stream, self.now + svc.settings.stream_hold_seconds)
            svc.streams.release(lease)  # before the next fetch is queued, so that it can take it
            return True
        svc.streams.schedule(self.stream, due)
        return False

    def _metadata(self, source: StoredSource) -> SourceMetadata:
        return SourceMetadata.build(
            name=source.config.name,
            category=source.config.category,
            collector=self._collector_name(source),
            fields=source.config.fields,
            schema=self.svc.fields.names(),
        )

    def _collector_name(self, source: StoredSource) -> str:
        try:
            return self.svc.collectors.get(source.collector_id).config.name
        except NotFound:
            return ""

    def _quarantine(self, lines: list[dict[str, Any]], unsafe: list[Any]) -> None:
        entries = [*lines]
        entries += [
            {
                "collection": self.collection,
                "where": w.record_id,
                "position": 0,
                "reason": w.reason,
                "text": "",
            }
            for w in unsafe
        ]
        if entries:
            now = self.svc.clock.now().isoformat()
            self.svc.collection.quarantine(self.source_id, [{**entry, "time": now} for entry in entries])
            self.svc.counters.add(counters.QUARANTINED_LINES, self.labels, len(entries))

    def _recovered(self, source: StoredSource) -> None:
        failing = self.svc.collection.clear_streak(self.source_id, self.stream)
        current = self.svc.sources.get_optional(self.source_id) or source
        outcome = after_commit(current.status.state, failing)
        if not outcome.to_collecting:
            return
        reason = "first page delivered" if not outcome.resolve else "collection recovered"
        try:
            self.svc.sources.transition(
                self.source_id,
                State.COLLECTING,
                self.svc.clock.now(),
                reason,
                expect_generation=current.status.generation,
            )
        except (StaleVersion, IllegalTransition, NotFound):
            return
        if outcome.resolve:
            Events(self, current).resolve()


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
    """Whether the page closed a time window or finished a SIEM listing: what follows depends on
    when it is read, so a batch ends here."""
    if isinstance(page.end, WindowCursor):
        return page.end.end is None
    return not isinstance(page.start, BatchCursor) or page.start.files != page.end.files


@dataclass
class Events:
    """Health events of one source, as `core.lifecycle.health` builds them."""

    work: StreamWork
    source: StoredSource

    def _identity(self) -> health.ResourceIdentity:
        return health.ResourceIdentity(
            self.source.collector_id,
            self.work._collector_name(self.source),
            self.source.id,
            self.source.config.name,
        )

    def problem(self, error: StateError, *, final: bool) -> None:
        svc = self.work.svc
        event = health.problem(
            error,
            self._identity(),
            svc.clock.now(),
            _event_id(),
            open_events=svc.health.open_events_of(self.source.id),
            final=final,
        )
        svc.health.open(event)

    def gap(self, gap: Gap) -> None:
        """A Warning that names what can no longer be collected; collection goes on after it."""
        svc = self.work.svc
        already = svc.health.open_events_of(self.source.id).get(GAP_EVENT)
        event = HealthEvent(
            event_id=already.event_id if already is not None else _event_id(),
            event_name=GAP_EVENT,
            status=Status.UNHEALTHY,
            severity=Severity.WARNING,
            time=svc.clock.now(),
            tracker_id=GAP_EVENT,
            title="Data no longer available from Mimecast",
            description=f"not collected: {gap.what} ({gap.reason})",
            resource=self._identity(),
        )
        svc.health.open(event)
        log.warning("stream %s: gap: %s (%s)", self.work.stream, gap.what, gap.reason)

    def resolve(self) -> None:
        svc = self.work.svc
        opened = {
            name: event
            for name, event in svc.health.open_events_of(self.source.id).items()
            if name != GAP_EVENT
        }
        healthy = health.recovery(opened, self._identity(), svc.clock.now(), _event_id())
        if healthy is not None:
            svc.health.resolve(healthy)


@dataclass
class Failure:
    """One error of one stream, handled as the contract's table says."""

    work: StreamWork
    source: StoredSource

    def handle(self, error: SourceError) -> None:
        work, svc = self.work, self.work.svc
        streak = svc.collection.streak(work.source_id, work.stream)
        outcome = after_failure(error, streak, work.now, random.random(), svc.policy)
        if error.counts_as_failure:
            svc.counters.add(counters.ERRORS, {**work.labels, "type": error.error_type.value})
        log.warning("stream %s: %s -> %s", work.stream, error, outcome.step.value)
        if outcome.step is Step.RETRY:
            svc.collection.set_streak(work.source_id, work.stream, outcome.streak)
            svc.streams.schedule(work.stream, outcome.at)
        else:
            svc.collection.halt(work.source_id, self.source.status.generation)
            for collection in self.source.config.data_collection:
                svc.streams.unschedule(keys.stream_of(work.source_id, collection))
        if outcome.shown:
            self._show(error, outcome.streak.first_at, outcome.streak.attempts, final=outcome.final)

    def _show(self, error: SourceError, first: float | None, attempts: int, *, final: bool) -> None:
        svc = self.work.svc
        state_error = StateError.of(error)
        verdict = "stopped until an update or a restart" if final else "will retry"
        try:
            svc.sources.transition(
                self.source.id,
                State.ERROR,
                svc.clock.now(),
                f"{error.error_type.value} in {self.work.collection}: {verdict}",
                error=state_error,
                failures=(first, attempts),
                expect_generation=self.source.status.generation,
            )
        except (StaleVersion, IllegalTransition, NotFound):
            return
        Events(self.work, self.source).problem(state_error, final=final)


def _event_id() -> str:
    return secrets.token_hex(8).upper()
