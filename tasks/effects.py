"""What every task on a unit of work shares: its context, the gate, the in-flight claim, throttling,
gaps, and (through `tasks.failures`) failures and delivered pages. Decides nothing itself:
`core.engine.decisions`, `core.lifecycle.failures` and `core.lifecycle.health` do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.engine.decisions import Gate, gate
from core.engine.units import Unit, parse
from core.errors import RateLimited, SourceError
from core.lifecycle import health
from core.mimecast.pacing import Paced
from core.models import Gap
from core.store import counters
from core.store.sources import StoredSource
from tasks import failures as failing
from tasks.chains import start_chains
from worker.wiring import Services

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One task's work on one unit."""

    svc: Services
    unit: Unit

    @classmethod
    def of(cls, svc: Services, unit_id: str) -> Work:
        return cls(svc, parse(unit_id))

    @property
    def now(self) -> float:
        return self.svc.clock.now().timestamp()

    @property
    def labels(self) -> dict[str, str]:
        return {"source": self.unit.source_id, "collection": self.unit.collection}

    @contextmanager
    def in_flight(self, what: str) -> Iterator[bool]:
        """Hold a claim of in-flight work on the source (removal waits for it); False if Stopping."""
        holder = f"{what}:{self.unit.id}:{uuid.uuid4().hex[:8]}"
        ttl_ms = int(self.svc.settings.task_time_limit_seconds * 1000) + 5000
        coordination = self.svc.coordination
        claimed = coordination.begin_work(self.unit.source_id, holder, int(self.now * 1000), ttl_ms)
        try:
            yield claimed
        finally:
            if claimed:
                coordination.end_work(self.unit.source_id, holder)

    def admitted(self, source: StoredSource | None) -> bool:
        """The gate before any Mimecast call; a unit that must quit leaves the due set, and a child
        of a halted collection gives its slot back (parked until an update or a restart)."""
        coordination = self.svc.coordination
        verdict = gate(
            source.status if source is not None else None,
            source.config.data_collection if source is not None else (),
            self.unit.collection,
            coordination.halts(self.unit.source_id) if source is not None else {},
        )
        if verdict is Gate.HALTED and self.unit.is_child:
            bound = self.svc.settings.max_in_flight_per_source
            start_chains(coordination.park(self.unit.id, self.now, bound))
        elif verdict in (Gate.QUIT, Gate.HALTED):
            configured = source is not None and self.unit.collection in source.config.data_collection
            if self.unit.is_child and source is not None and not configured:
                coordination.drop_child(self.unit.id)
            else:
                coordination.unschedule(self.unit.id)
        if verdict in (Gate.QUIT, Gate.HALTED):
            log.info(
                "unit %s quits: its source is gone or stopping, or its collection halted or dropped",
                self.unit,
            )
        return verdict is Gate.GO

    def throttle(self, source: StoredSource, endpoint: str, error: RateLimited) -> None:
        """A 429: no unit on this client id calls `endpoint` before the reset Mimecast named."""
        self.svc.throttle.pause(source.config.client_id, endpoint, self.now + error.wait_seconds, self.now)

    def throttled(self, source: StoredSource, endpoint: str) -> bool:
        """Whether another unit on this client id met a 429 on `endpoint` whose reset is still ahead;
        if so, this unit is due again at the reset and makes no call."""
        until = self.svc.throttle.paused_until(source.config.client_id, endpoint, self.now)
        if until is None:
            return False
        self.svc.coordination.schedule(self.unit.id, until)
        self.svc.counters.add(counters.THROTTLE_WAITS, self.labels)
        log.info("unit %s waits out a rate limit on its client id until %.0f", self.unit, until)
        return True

    def paced(self, paced: Paced) -> None:
        """The application's rate budget paces this unit: due again when its next call may go."""
        self.svc.coordination.schedule(self.unit.id, paced.until)
        log.info("unit %s: %s", self.unit, paced)

    def waited(self, endpoint: str, seconds: float, rescheduled: bool) -> None:
        """Count a pacing wait (in place, or by rescheduling the unit), per endpoint."""
        labels = {"endpoint": endpoint, "how": "rescheduled" if rescheduled else "inline"}
        self.svc.counters.add(counters.PACING_WAITS, labels)
        self.svc.counters.add(counters.PACING_WAIT_MS, labels, max(int(seconds * 1000), 0))

    def gap(self, source: StoredSource, found: Gap) -> None:
        svc = self.svc
        event = health.gap(
            found.what,
            found.reason,
            failing.identity(svc, source),
            svc.clock.now(),
            failing.event_id(),
            open_events=svc.health.open_events_of(source.id),
        )
        svc.health.open(event)
        log.warning("unit %s: gap: %s (%s)", self.unit, found.what, found.reason)

    def failed(self, source: StoredSource, error: SourceError) -> None:
        """An error of this unit, handled as the contract's table says (`tasks.failures.failed`)."""
        failing.failed(self.svc, source, self.unit, error)

    def delivered(self, source: StoredSource) -> None:
        """After a committed page: the state moves as `tasks.failures.delivered` says."""
        failing.delivered(self.svc, source, self.unit)
