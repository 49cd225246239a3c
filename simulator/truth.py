"""Ground truth: the id of every record made available since the simulator started.

Id rules: SIEM and Cloud Integrated `aggregateId:type` (the streaming form names the type
`eventType`); DLP `messageId`; audit events, held messages, impersonation logs and STIX objects their
`id`; release logs `id|released`; TTP URL and attachment logs and archive search logs, which have no
id, a hash of the record's canonical JSON (`rows.content_id`). "Made available" means: SIEM and Cloud
Integrated batch, in a file published by now and still retained at start or later; SIEM streaming,
timestamped by now and within the 24-hour reach at start or later; held messages, listed at some
moment between start and now; every other record, timestamped by now and, for a late arrival
(`late_share`), published by now.
"""

from __future__ import annotations

from simulator.batches import BatchStore
from simulator.dataset import MINUTE_MS, seq_bounds_for_time
from simulator.state import Simulation


def truth_ids(sim: Simulation, collection: str, via: str, since: int | None, until: int | None) -> list[str]:
    now = sim.clock.now_ms()
    low = since if since is not None else 0
    high = until if until is not None else now + 1
    if collection == "siem" and via == "batch":
        return _batch_ids(sim.batches, sim, now, low, high)
    if collection == "cloudIntegrated":
        return _batch_ids(sim.ci_batches, sim, now, low, high)
    if collection == "siem":
        low = max(low, sim.started_ms - sim.options.streaming_retention_hours * 3_600_000)
    low = max(low, sim.dataset.origin_minute * MINUTE_MS)
    high = min(high, now + 1)
    if low >= high:
        return []
    first, last = seq_bounds_for_time(low, high)
    return [
        record.id
        for record in sim.dataset.scan(collection, first, last, newest_first=False)
        if low <= record.ts < high
        and (collection != "holdMessageList" or record.until > sim.started_ms)
        and sim.visible(collection, record, now)
    ]


def _batch_ids(batches: BatchStore, sim: Simulation, now: int, low: int, high: int) -> list[str]:
    types = set(range(len(batches.types)))
    files = batches.published(now, None, types, 0, None, retained_at=sim.started_ms)
    files.sort(key=lambda file: (file.period, file.type_index, file.part))
    return [record.id for file in files for record in batches.records(file) if low <= record.ts < high]
