"""`dispatch`, enqueued by beat every few seconds: claim the due streams, start a chain for each.

Claiming is one Redis script that pushes each claimed stream `STREAM_HOLD_SECONDS` ahead, so
running dispatch twice is harmless and a chain that got lost comes due again by itself.
"""

from __future__ import annotations

import logging

from celery import shared_task

from tasks.chains import start_chain
from worker.wiring import services

log = logging.getLogger(__name__)

DISPATCH = "tasks.dispatch.dispatch"


@shared_task(name=DISPATCH, ignore_result=True)  # type: ignore[untyped-decorator]
def dispatch() -> int:
    """Start a fetch -> forward chain for every stream due now; how many were claimed."""
    svc = services()
    settings = svc.settings
    now = svc.clock.now().timestamp()
    claimed = svc.streams.claim_due(now, settings.stream_hold_seconds, settings.dispatch_batch)
    for stream in claimed:
        start_chain(stream)
    if claimed:
        log.info("dispatched %d due stream(s)", len(claimed))
    return len(claimed)
