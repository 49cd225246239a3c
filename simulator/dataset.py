"""The records that exist: a pure function of the seed, the collection and the minute.

Every collection has `rate` records per minute from the origin (start minus the backlog) on. Record
number `i` of minute `m` has the sequence number `m * SEQ_PER_MINUTE + i`; sequence order is time
order, so a sequence number is all a page token needs to remember. Minutes are built once and cached
as serialized JSON, ready to be joined into responses and files.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from simulator import records
from simulator.log_dataset import LogBuilders
from simulator.rows import MINUTE_MS, SEQ_PER_MINUTE, Record, dump, opaque_id

__all__ = ["MINUTE_MS", "SEQ_PER_MINUTE", "Dataset", "Record", "opaque_id", "seq_bounds_for_time"]
from simulator.clock import api_time
from simulator.settings import SimulatorSettings


def _digest(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).hexdigest()


class Dataset:
    """Deterministic records for one seed; the origin bounds the backlog."""

    def __init__(self, settings: SimulatorSettings, origin_ms: int) -> None:
        self.seed = settings.seed
        self.settings = settings
        self.origin_minute = origin_ms // MINUTE_MS
        self.account_id = f"C{_digest(self.seed, 'account')[:4].upper()}"
        self.partition = int(_digest(self.seed, "partition"), 16) % 256
        self.minute = lru_cache(maxsize=200_000)(self._build_minute)
        self.logs = LogBuilders(self.seed, self.account_id, (self.partition + 1) % 256, self._times)

    def _rng(self, collection: str, minute: int) -> random.Random:
        return random.Random(f"{self.seed}:{collection}:{minute}")

    def _times(self, rng: random.Random, minute: int, count: int, step_ms: int) -> list[int]:
        base = minute * MINUTE_MS
        return sorted(base + rng.randrange(MINUTE_MS // step_ms) * step_ms for _ in range(count))

    def _build_minute(self, collection: str, minute: int) -> tuple[Record, ...]:
        if minute < self.origin_minute:
            return ()
        count = self.settings.rate(collection)
        rng = self._rng(collection, minute)
        build = {
            "siem": self._siem,
            "dlp": self._dlp,
            "auditEvent": self._audit,
            "holdMessageList": self._hold,
            **self.logs.builders,
        }[collection]
        return tuple(build(rng, minute, count))

    def _siem(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        times = self._times(rng, minute, count, 1)
        message = 0
        events: list[dict[str, Any]] = []
        for index, ts in enumerate(times):
            if not events:
                key = _digest(self.seed, minute, message)
                message += 1
                events = records.siem_message(
                    rng,
                    account_id=self.account_id,
                    aggregate_id=key,
                    processing_id=f"{key[:12]}_{minute % 97}",
                )
            event: dict[str, Any] = {
                "_offset": minute * SEQ_PER_MINUTE + index,
                "_partition": self.partition,
                "timestamp": ts,
            }
            event.update(events.pop(0))
            kind = str(event["type"])
            yield Record(
                ts, minute * SEQ_PER_MINUTE + index, f"{event['aggregateId']}:{kind}", kind, _dump(event)
            )

    def _dlp(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            message_id = f"<{_digest(self.seed, 'dlp', minute, index)}@mail.corp.example>"
            record = records.dlp_log(rng, event_time=api_time(ts), message_id=message_id)
            yield Record(ts, minute * SEQ_PER_MINUTE + index, message_id, "dlp", _dump(record))

    def _audit(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            event_id = opaque_id(b"audit", self.seed, minute, index)
            record = records.audit_event(rng, event_id=event_id, event_time=api_time(ts))
            yield Record(ts, minute * SEQ_PER_MINUTE + index, event_id, "audit", _dump(record))

    def _hold(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        low, high = self.settings.hold_minutes_min, self.settings.hold_minutes_max
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            hold_id = opaque_id(b"hold", self.seed, minute, index)
            record = records.held_message(rng, hold_id=hold_id, date_received=api_time(ts))
            until = ts + rng.randint(low, high) * MINUTE_MS
            yield Record(ts, minute * SEQ_PER_MINUTE + index, hold_id, "hold", _dump(record), until)

    def scan(self, collection: str, first_seq: int, last_seq: int, newest_first: bool) -> Iterator[Record]:
        """Records with `first_seq <= seq <= last_seq`, in sequence order or its reverse."""
        first_minute = max(first_seq // SEQ_PER_MINUTE, self.origin_minute)
        last_minute = last_seq // SEQ_PER_MINUTE
        minutes = (
            range(last_minute, first_minute - 1, -1) if newest_first else range(first_minute, last_minute + 1)
        )
        for minute in minutes:
            rows = self.minute(collection, minute)
            for record in reversed(rows) if newest_first else rows:
                if first_seq <= record.seq <= last_seq:
                    yield record


def _dump(record: Mapping[str, object]) -> bytes:
    return dump(record)


def seq_bounds_for_time(from_ms: int, to_ms: int) -> tuple[int, int]:
    """The widest sequence range that can hold records with `from_ms <= ts < to_ms`."""
    return (from_ms // MINUTE_MS) * SEQ_PER_MINUTE, (
        (to_ms - 1) // MINUTE_MS
    ) * SEQ_PER_MINUTE + SEQ_PER_MINUTE - 1
