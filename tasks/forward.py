"""`Forward`: rules and metadata, write to the destination, then commit the checkpoint.

The `fetch` task runs it on the page it read, in the same process; the `forward(message)` task
takes a page message queued by an earlier version. It holds the lease `fetch` handed it. Only
once the destination has accepted the batch does the checkpoint move (compare-and-set on epoch
and version); a child that has read all it owns finishes instead, freeing its slot for the next.
When more waits, the next chain is started at once; otherwise the unit goes back into the due
set for the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from celery import shared_task

from core.engine.decisions import Next, Withheld, after_forward, batch_id, messages
from core.engine.messages import PageMessage
from core.errors import Refusal, SourceError
from core.processing.metadata import SourceMetadata
from core.processing.rules import Verdict as RuleVerdict
from core.processing.rules import compile_rules
from core.sinks.contract import Batch
from core.store import counters
from core.store.coordination import Lease
from core.store.sources import StoredSource
from tasks.chains import FORWARD, start_chain, start_chains
from tasks.effects import Work
from tasks.failures import collector_name
from worker.wiring import services

log = logging.getLogger(__name__)
_ID = attrgetter("id")


class Forward:
    def __init__(self, work: Work, message: PageMessage) -> None:
        self.work = work
        self.svc = work.svc
        self.message = message

    def run(self) -> None:
        with self.work.in_flight("forward") as claimed:
            if claimed:
                self.run_claimed()

    def run_claimed(self, source: StoredSource | None = None, handed_now: bool = False) -> None:
        """`run` for a task that holds the source's in-flight claim already (`fetch`'s), with the
        source as that task read it, if it did; `handed_now`: the lease was handed over just now,
        with its full time to live (by `fetch`, in this process), so it is not renewed first."""
        work, message = self.work, self.message
        source = source or self.svc.sources.get_optional(work.unit.source_id)
        if source is None:
            return
        lease = Lease(message.unit, message.lease_token, message.epoch)
        try:
            self._forward(source, lease, renew=not handed_now)
        except Refusal as lost:
            log.info("unit %s: %s; the page is left to the lease's holder", work.unit, lost)
        except SourceError as error:
            work.failed(source, error)
        finally:
            self.svc.coordination.release(lease)

    def _forward(self, source: StoredSource, lease: Lease, renew: bool) -> None:
        svc, work, message = self.svc, self.work, self.message
        settings = svc.settings
        if renew:  # a page message that waited in the broker: its lease's time is partly spent
            svc.coordination.renew(lease, settings.lease_ttl_seconds)
        collector = collector_name(svc, source)
        metadata = SourceMetadata.build(
            name=source.config.name,
            category=source.config.category,
            collector=collector,
            fields=source.config.fields,
            schema=svc.fields.names(),
        )
        kept, withheld = messages(
            work.unit.collection, message.records, compile_rules(source.config.filters), metadata
        )
        if kept:
            svc.sink.write(
                Batch(
                    id=batch_id(work.unit, message.start, map(_ID, message.records)),
                    source_id=source.id,
                    collector=collector,
                    source=source.config.name,
                    collection=work.unit.collection,
                    messages=kept,
                )
            )
        now = work.now
        follow = after_forward(message.finished, message.complete, now, settings.poll_interval_seconds)
        if follow.next is Next.FINISH:
            admitted = svc.coordination.finish(
                lease, message.version, now, settings.max_in_flight_per_source, settings.stream_hold_seconds
            )
        else:
            svc.coordination.commit(lease, message.version, message.end, now)
            admitted = []
        svc.counters.add(counters.RECORDS_FORWARDED, work.labels, len(kept))
        self._quarantine(
            source, message.quarantined, [w for w in withheld if w.verdict is RuleVerdict.UNSAFE]
        )
        work.delivered(source)
        start_chains(admitted)
        if follow.next is Next.NOW:
            svc.coordination.schedule(work.unit.id, now + settings.stream_hold_seconds)
            svc.coordination.release(lease)  # before the next fetch is queued, so that it can take it
            start_chain(work.unit.id)
        elif follow.next is Next.LATER:
            svc.coordination.schedule(work.unit.id, follow.at)

    def _quarantine(
        self, source: StoredSource, lines: Sequence[Mapping[str, Any]], unsafe: Sequence[Withheld]
    ) -> None:
        collection = self.work.unit.collection
        entries = [dict(line) for line in lines]
        entries += [
            {"collection": collection, "where": w.record_id, "position": 0, "reason": w.reason, "text": ""}
            for w in unsafe
        ]
        if entries:
            now = self.svc.clock.now().isoformat()
            self.svc.quarantine.add(source.id, [{**entry, "time": now} for entry in entries])
            self.svc.counters.add(counters.QUARANTINED_LINES, self.work.labels, len(entries))


@shared_task(name=FORWARD, ignore_result=True)  # type: ignore[untyped-decorator]
def forward(payload: dict[str, Any] | None) -> None:
    if not payload:
        return
    message = PageMessage.from_json(payload)
    Forward(Work.of(services(), message.unit), message).run()
