"""A SIEM stream's reading, carried out: ask `core.engine.siem_mode` which reading to do and from
which checkpoint, commit that checkpoint, and report a fallback. Decides nothing itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.engine import siem_mode
from core.engine.siem_mode import Limits, Plan, Quota, Reading
from core.mimecast.streams import SIEM_STREAMING, StreamSpec
from core.models import Cursor, cursor_text
from core.store.coordination import Lease
from core.store.sources import StoredSource
from tasks.effects import Work
from tasks.failures import event_id, identity
from worker.settings import Settings

log = logging.getLogger(__name__)


def limits(settings: Settings) -> Limits:
    return Limits(
        settle=timedelta(seconds=settings.siem_handover_settle_seconds),
        behind=timedelta(seconds=settings.siem_fallback_behind_seconds),
    )


@dataclass(frozen=True)
class Planned:
    """The reading to do (its spec), the checkpoint it starts from and that checkpoint's version."""

    spec: StreamSpec
    cursor: Cursor
    version: int


def plan(
    work: Work,
    source: StoredSource,
    lease: Lease,
    stored: Cursor | None,
    version: int,
    asked: datetime | None,
) -> Planned | None:
    """The SIEM stream's reading now, its checkpoint committed when it changed; None when it waits
    (for its batch children to finish before a handover): it is due again after a poll interval."""
    svc, unit, now = work.svc, work.unit, work.svc.clock.now()
    paused = svc.throttle.paused_until(source.config.client_id, SIEM_STREAMING.path, now.timestamp())
    quota = Quota(datetime.fromtimestamp(paused, UTC) if paused is not None else None)
    waiting = svc.coordination.children(unit.source_id, unit.id)
    found: Plan = siem_mode.plan(
        source.config.siem_mode,
        stored,
        now,
        limits(svc.settings),
        quota,
        waiting.pending + waiting.running,
        asked,
    )
    if found.changed:
        version = svc.coordination.commit(lease, version, cursor_text(found.cursor), now.timestamp())
    if found.note is not None:
        log.info("unit %s: %s", unit, found.note)
    if found.warning is not None:
        log.warning("unit %s: %s", unit, found.warning)
        event = siem_mode.fallback_event(
            found.warning,
            identity(svc, source),
            now,
            event_id(),
            open_events=svc.health.open_events_of(source.id),
        )
        svc.health.open(event)
    if found.reading is Reading.WAIT:
        svc.coordination.schedule(unit.id, now.timestamp() + svc.settings.poll_interval_seconds)
        return None
    return Planned(found.spec, found.cursor, version)
