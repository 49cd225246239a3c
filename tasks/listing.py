"""What a unit reads through and how it hands out children, carried out: the Mimecast fetcher of a
source (within the shared rate budget), the adoption of children (SIEM files, backfill
sub-windows) by `Coordination.adopt`, and a SIEM stream's listing page: its files become children,
then the stream lists on at once (ahead of the files it admitted) or waits (`decisions.after_listing`)."""

from __future__ import annotations

import logging
from dataclasses import replace

from core.engine import fanout, units
from core.engine.decisions import Next, after_listing
from core.engine.siem_mode import listed
from core.mimecast import paging, windows
from core.mimecast.auth import Session, TokenFlow
from core.mimecast.fetcher import Fetcher
from core.mimecast.paced import PacedCaller
from core.mimecast.streams import StreamSpec
from core.models import BatchCursor, Credentials, cursor_text
from core.store import counters
from core.store.coordination import Lease
from core.store.sources import StoredSource
from tasks import siem_mode
from tasks.chains import start_chains
from tasks.effects import Work

log = logging.getLogger(__name__)


def fetcher(work: Work, source: StoredSource) -> Fetcher:
    """The source's Mimecast fetcher: every call within the shared rate budget, tokens cached."""
    svc = work.svc
    credentials = Credentials(source.config.client_id, svc.sources.secret(source.id))
    caller = PacedCaller(
        svc.mimecast,
        svc.throttle,
        svc.clock,
        credentials.client_id,
        share=svc.settings.rate_pace_share,
        on_wait=work.waited,
    )
    session = Session(caller, TokenFlow(svc.tokens, svc.mimecast.request_token, svc.clock), credentials)
    return Fetcher(session, svc.files, svc.clock, listings=svc.listings)


def adopt(work: Work, lease: Lease, version: int, adoption: fanout.Adoption) -> tuple[int, list[str]]:
    """Record the unit's new cursor and its children in one script; the new version and the
    admitted children, whose chains the caller starts."""
    settings = work.svc.settings
    children = [(child.unit.id, cursor_text(child.cursor)) for child in adoption.children]
    version, admitted = work.svc.coordination.adopt(
        lease,
        version,
        cursor_text(adoption.cursor),
        children,
        work.now,
        settings.max_in_flight_per_source,
        settings.stream_hold_seconds,
        units.queue_order(children[0][0], work.now) if children else None,
    )
    if adoption.children:
        log.info("unit %s handed out %d child unit(s)", work.unit, len(adoption.children))
    return version, admitted


def list_page(
    work: Work, source: StoredSource, lease: Lease, spec: StreamSpec, cursor: BatchCursor, version: int
) -> None:
    """One listing page of the SIEM stream: its files become children; list on or wait."""
    svc, unit, now = work.svc, work.unit, work.svc.clock.now()
    settings = svc.settings
    if moved := windows.batch_into_reach(spec, cursor, now):
        # A reset asked for days Mimecast no longer lists: report them, then list from the reach.
        cursor, lost = replace(cursor, start_date=moved[0].start_date), moved[1]  # bounds kept (siemMode)
        work.gap(source, lost)
        version = svc.coordination.commit(lease, version, cursor_text(cursor), now.timestamp())
    adoption = fanout.files_in_progress(unit, cursor)
    if adoption is None:
        listing = fetcher(work, source).listing(spec, cursor)
        bound = settings.max_in_flight_per_source
        adoption = fanout.files_of(unit, cursor, listing, settings.child_bytes, bound)
        adoption = replace(adoption, cursor=listed(adoption.cursor, now, siem_mode.limits(settings)))
        svc.counters.add(counters.PAGES_FETCHED, work.labels)
    _, admitted = adopt(work, lease, version, adoption)
    work.delivered(source)  # a listing recorded is progress: Collecting, or recovered
    assert isinstance(adoption.cursor, BatchCursor)
    waiting = svc.coordination.children(unit.source_id).pending
    follow = after_listing(
        paging.batch_finished(adoption.cursor),
        waiting,
        settings.list_ahead_files,
        now.timestamp(),
        settings.poll_interval_seconds,
    )
    if follow.next is Next.NOW:
        svc.coordination.schedule(unit.id, now.timestamp() + settings.stream_hold_seconds)
        svc.coordination.release(lease)  # before the next fetch is queued, so that it can take it
        # Listing on goes first, ahead of the files it admitted: a process carrying this chain on
        # lists the next page while the others read the files, so no process waits for a listing.
        start_chains([unit.id, *admitted])
    else:
        svc.coordination.schedule(unit.id, follow.at)
        start_chains(admitted)
