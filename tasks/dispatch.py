"""`dispatch`, enqueued by beat every few seconds: claim every due unit, start a chain for each.

Claiming is one Redis script per batch that pushes each claimed unit `STREAM_HOLD_SECONDS` ahead,
so running dispatch twice is harmless and a chain that got lost comes due again by itself. Every
unit due is claimed in each tick; a tick with many hands the enqueueing of their chains to
`start_units` tasks of `DISPATCH_CHUNK` units each, which any worker runs, so the tick stays short.
"""

from __future__ import annotations

import logging

from celery import shared_task, signature

from tasks.chains import start_chains
from worker.wiring import services

log = logging.getLogger(__name__)

DISPATCH = "tasks.dispatch.dispatch"
START_UNITS = "tasks.dispatch.start_units"


@shared_task(name=DISPATCH, ignore_result=True)  # type: ignore[untyped-decorator]
def dispatch() -> int:
    """Start a fetch -> forward chain for every unit due now; how many were claimed."""
    svc = services()
    settings = svc.settings
    now = svc.clock.now().timestamp()
    claimed = svc.coordination.claim_due(now, settings.stream_hold_seconds, settings.dispatch_batch)
    chunk = settings.dispatch_chunk
    if len(claimed) <= chunk:
        start_chains(claimed)
    else:
        for first in range(0, len(claimed), chunk):
            signature(START_UNITS, args=[claimed[first : first + chunk]]).apply_async()
    if claimed:
        log.info("dispatched %d due unit(s)", len(claimed))
    return len(claimed)


@shared_task(name=START_UNITS, ignore_result=True)  # type: ignore[untyped-decorator]
def start_units(units: list[str]) -> int:
    """Start the chains of claimed units (a share of a large tick)."""
    return start_chains(str(unit) for unit in units)
