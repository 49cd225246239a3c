"""`fetch(unit)`: take the unit's lease, read one batch of records from its checkpoint, and hand
the lease and the page to `Forward`, run by this task in the same process (`tasks.chains`) under
the same in-flight claim on the source (one claim, and one release, for both).

A SIEM stream only lists: each listing page's files become children (`Coordination.adopt`) that
any worker reads in parallel. A windowed stream with a long backlog hands out sub-windows the
same way. The chain stops when there is nothing to forward: the lease is taken, the
unit is not due, halted, or failed (and is already scheduled for its retry).
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import timedelta

from celery import shared_task

from core.engine import fanout, pins
from core.engine.decisions import quarantine_entry, take
from core.engine.messages import PageMessage
from core.engine.pins import Pin
from core.errors import RateLimited, Refusal, SourceError
from core.mimecast import windows
from core.mimecast.pacing import Paced
from core.mimecast.streams import Collection, StreamSpec, spec_for
from core.models import BatchCursor, Cursor, WindowCursor, cursor_of_text, cursor_text
from core.store import counters
from core.store.coordination import Lease, StaleCommit
from core.store.sources import StoredSource
from tasks import listing, siem_mode
from tasks.chains import FETCH, broker_waiting, carried_on, start_chains
from tasks.effects import Work
from tasks.forward import Forward
from worker.wiring import services

log = logging.getLogger(__name__)


class Fetch:
    def __init__(self, work: Work) -> None:
        self.work = work
        self.svc = work.svc
        self.unit = work.unit
        self.spec = spec_for(work.unit.collection)  # a SIEM stream's is its mode's (`siem_mode.plan`)
        self.source: StoredSource | None = None  # as `run` read it: its page's forward uses the same

    def run(self, claimed: bool) -> PageMessage | None:
        """The page to forward, if any; `claimed`: whether the task holds its in-flight claim (the
        source is neither Stopping nor gone)."""
        work, coordination = self.work, self.svc.coordination
        if not claimed:
            coordination.unschedule(self.unit.id)
            return None
        source = self.source = self.svc.sources.get_optional(self.unit.source_id)
        if source is None or not work.admitted(source):
            return None
        lease = coordination.acquire(self.unit.id, self.svc.settings.lease_ttl_seconds)
        if lease is None:
            log.info("unit %s is leased by another worker; this fetch steps aside", self.unit)
            return None
        message: PageMessage | None = None
        try:
            message = self._fetch(source, lease)
            return message
        except Paced as paced:
            work.paced(paced)
            return None
        except Refusal as lost:
            log.info("unit %s: %s; this fetch steps aside", self.unit, lost)
            return None
        except SourceError as error:
            if isinstance(error, RateLimited):
                work.throttle(source, self.spec.path, error)
            work.failed(source, error)
            return None
        finally:
            if message is None:
                coordination.release(lease)

    def _fetch(self, source: StoredSource, lease: Lease) -> PageMessage | None:
        svc, unit, now = self.svc, self.unit, self.svc.clock.now()
        settings = svc.settings
        svc.coordination.schedule(unit.id, now.timestamp() + settings.stream_hold_seconds)
        spec = self._tuned(self.spec)
        checkpoint = svc.coordination.checkpoint(unit.id)
        if unit.is_child and checkpoint.cursor is None:
            svc.coordination.drop_child(unit.id)  # finished (or dropped) already
            return None
        asked = windows.collect_start(source.config.collect_from, now)  # collectFrom (issue 13)
        stored = cursor_of_text(checkpoint.cursor) if checkpoint.cursor else None
        version = checkpoint.version
        if unit.collection == Collection.SIEM and not unit.is_child:  # batch or streaming: siemMode
            planned = siem_mode.plan(self.work, source, lease, stored, version, asked)
            if planned is None:
                return None
            self.spec = spec = self._tuned(planned.spec)
            stored, version = planned.cursor, planned.version
        if self.work.throttled(source, spec.path):
            return None
        cursor = stored if stored is not None else windows.initial_cursor(spec, now, collect_from=asked)
        if isinstance(cursor, BatchCursor) and not unit.is_child:
            listing.list_page(self.work, source, lease, spec, cursor, version)
            return None
        if isinstance(cursor, WindowCursor) and cursor.end is None:
            cursor, gap = windows.into_reach(spec, cursor, now)
            if gap is not None:
                self.work.gap(source, gap)
            if not unit.is_child and (
                adoption := fanout.split(spec, unit, cursor, now, self._span(), self._bound())
            ):
                version, admitted = listing.adopt(self.work, lease, version, adoption)
                start_chains(admitted)
                cursor = adoption.cursor
        if fanout.complete(unit, cursor):
            hold = settings.stream_hold_seconds
            start_chains(svc.coordination.finish(lease, version, now.timestamp(), self._bound(), hold))
            return None
        if isinstance(cursor, WindowCursor) and cursor.end is None:
            opened = windows.open_window(spec, cursor, now)
            if opened is None:
                self._later()
                return None
            # Fix the window first, so that a re-read of this checkpoint asks for the same page.
            cursor = opened[0]
            version = svc.coordination.commit(lease, version, cursor_text(cursor), now.timestamp())
        return self._page(source, lease, spec, cursor, version, checkpoint.pin)

    def _page(
        self,
        source: StoredSource,
        lease: Lease,
        spec: StreamSpec,
        cursor: Cursor,
        version: int,
        pin: Pin | None,
    ) -> PageMessage | None:
        svc, work = self.svc, self.work
        pinned = pins.matching(pin, cursor)  # this page went to a forward that never committed
        limit = svc.settings.max_records_per_chunk
        # Closed at once: an open batch-file download ends, a page read ahead is waited for.
        with closing(listing.fetcher(self.work, source).pages(spec, cursor, want=limit)) as pages:
            page = take(pages, limit, pins.wanted(pinned))
        if page is None:
            self._later()
            return None
        svc.counters.add(counters.PAGES_FETCHED, work.labels)
        for gap in page.gaps:
            work.gap(source, gap)
        outcome = pins.held(spec, page, pinned)
        for level, text in pins.told(str(self.unit), outcome):
            log.log(level, text)
        page = outcome.page
        start = cursor_text(page.start)
        handed = svc.coordination.handoff(lease, svc.settings.lease_ttl_seconds, pins.pin_of(page, start))
        if handed is None:
            raise StaleCommit("the lease lapsed before the page could be handed to forward")
        chars = svc.settings.quarantine_text_chars
        return PageMessage(
            unit=self.unit.id,
            lease_token=handed.token,
            epoch=handed.epoch,
            version=version,
            start=start,
            end=cursor_text(page.end),
            finished=page.finished,
            complete=fanout.complete(self.unit, page.end),
            records=page.records,
            quarantined=tuple(
                quarantine_entry(self.unit.collection, q.source, q.position, q.reason, q.text, chars)
                for q in page.quarantined
            ),
        )

    def _later(self) -> None:
        self.svc.coordination.schedule(self.unit.id, self.work.now + self.svc.settings.poll_interval_seconds)

    def _tuned(self, spec: StreamSpec) -> StreamSpec:
        overlap, poll = self.svc.settings.window_overlap_seconds, self.svc.settings.poll_interval_seconds
        return windows.tuned(spec, timedelta(seconds=overlap), timedelta(seconds=poll))

    def _bound(self) -> int:
        return self.svc.settings.max_in_flight_per_source

    def _span(self) -> timedelta:
        return timedelta(seconds=self.svc.settings.backfill_split_seconds)


@shared_task(name=FETCH, ignore_result=True)  # type: ignore[untyped-decorator]
def fetch(unit: str) -> None:
    """Fetch a page and forward it in this same process; carry on with the chains that starts
    (see `tasks.chains`)."""
    svc = services()
    # closed at once, an exception too: the rest is queued
    with closing(carried_on(unit, waiting=broker_waiting)) as units:
        for each in units:
            work = Work.of(svc, each)
            with work.in_flight("fetch") as claimed:  # one claim for the fetch and its page's forward
                fetching = Fetch(work)
                message = fetching.run(claimed)
                if message is not None:
                    Forward(work, message).run_claimed(fetching.source, handed_now=True)
