"""The records of the collections of `spec/mimecast-api-more.md`, minute by minute, with their
ground-truth ids: a pure function of the seed, the collection and the minute (see dataset.py).

Ground-truth ids: TTP URL and attachment logs and archive search logs have no id, so theirs is
`content_id` (a hash of the record's canonical JSON; every record a minute holds differs from the
others); impersonation logs and STIX objects their `id`; release logs `id|released` (a held message
sometimes has a second release entry under the same `id`); Cloud Integrated `aggregateId:type`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from simulator import feed_records, log_records, records
from simulator.clock import api_time, iso_ms
from simulator.rows import SEQ_PER_MINUTE, Record, content_id, dump, opaque_id

Times = Callable[[random.Random, int, int, int], list[int]]
Builder = Callable[[random.Random, int, int], Iterator[Record]]
FEEDS = {"threatIntelCustomer": "customer", "threatIntelGrid": "grid"}


class LogBuilders:
    """One builder per collection: `(rng, minute, count) -> records` in time order."""

    def __init__(self, seed: int, account_id: str, partition: int, times: Times) -> None:
        self.seed = seed
        self.account_id = account_id
        self.partition = partition
        self._times = times
        self.builders: dict[str, Builder] = {
            "ttpUrl": self._url,
            "ttpAttachment": self._attachment,
            "ttpImpersonation": self._impersonation,
            "archiveSearch": self._archive,
            "holdReleaseLog": self._release,
            "cloudIntegrated": self._ci,
            "threatIntelCustomer": lambda rng, minute, count: self._feed(rng, minute, count, "customer"),
            "threatIntelGrid": lambda rng, minute, count: self._feed(rng, minute, count, "grid"),
        }

    def _url(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        """Clicks and scans in groups of one message each: the same `messageId`, distinct users."""
        times = self._times(rng, minute, count, 1000)
        index = 0
        while index < len(times):
            route = rng.choice(log_records.TTP_ROUTES)
            message = log_records.message_id(rng)
            group = min(rng.choice((1, 1, 2, 3)), len(times) - index)
            users = rng.sample(records._INTERNAL, group)
            for offset in range(group):
                ts = times[index + offset]
                user = users[offset][1]
                when = api_time(ts)
                record = log_records.url_click(rng, date=when, message=message, route=route, user=user)
                yield _row(ts, minute, index + offset, content_id(record), "ttpUrl", record)
            index += group

    def _attachment(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        times = self._times(rng, minute, count, 1000)
        index = 0
        while index < len(times):
            ts = times[index]
            for record in log_records.attachment_message(rng, date=api_time(ts))[: len(times) - index]:
                yield _row(ts, minute, index, content_id(record), "ttpAttachment", record)
                index += 1

    def _impersonation(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            log_id = "MTOKEN:" + opaque_id(b"impersonation", self.seed, minute, index)
            record = log_records.impersonation_log(rng, log_id=log_id, event_time=api_time(ts))
            yield _row(ts, minute, index, log_id, "ttpImpersonation", record)

    def _archive(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        seen: set[str] = set()
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            record = log_records.archive_search_log(rng, create_time=api_time(ts))
            if content_id(record) in seen:  # two identical rows cannot be told apart by anyone
                record["searchText"] = f"{record['searchText']} #{index}".strip()
            seen.add(content_id(record))
            yield _row(ts, minute, index, content_id(record), "archiveSearch", record)

    def _release(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        previous: str | None = None
        previous_ts = -1
        for index, ts in enumerate(self._times(rng, minute, count, 1000)):
            reused = previous is not None and ts != previous_ts and rng.random() < 0.05
            previous_ts = ts
            log_id = previous if reused and previous else opaque_id(b"release", self.seed, minute, index)
            record = log_records.release_log(rng, log_id=log_id, released=api_time(ts))
            truth = f"{log_id}|{record['released']}"
            previous = None if reused else log_id  # a second entry, never a third
            yield _row(ts, minute, index, truth, "holdReleaseLog", record)

    def _ci(self, rng: random.Random, minute: int, count: int) -> Iterator[Record]:
        for index, ts in enumerate(self._times(rng, minute, count, 1)):
            kind = rng.choices(feed_records.CI_TYPES, weights=(4, 5, 1))[0]
            seq = minute * SEQ_PER_MINUTE + index
            record = feed_records.ci_record(
                rng, kind=kind, account_id=self.account_id, partition=self.partition, offset=seq, timestamp=ts
            )
            yield Record(ts, seq, f"{record['aggregateId']}:{kind}", kind, dump(record))

    def _feed(self, rng: random.Random, minute: int, count: int, feed: str) -> Iterator[Record]:
        """`count` objects a minute, in triples; the customer feed sees some hashes again (new ids)."""
        triples = max(1, count // 3) if count else 0
        index = 0
        for ts in self._times(rng, minute, triples, 1):
            sha256 = self._hash(rng, minute, feed)
            for item in feed_records.stix_triple(rng, created=iso_ms(ts), sha256=sha256):
                seq = minute * SEQ_PER_MINUTE + index
                yield Record(ts, seq, str(item["id"]), str(item["type"]), dump(item))
                index += 1

    def _hash(self, rng: random.Random, minute: int, feed: str) -> str:
        if feed == "customer" and rng.random() < 0.3:
            pick = rng.randrange(5)  # one of the hour's recurring files
            return hashlib.sha256(f"{self.seed}:{minute // 60}:{pick}".encode()).hexdigest()
        return f"{rng.getrandbits(256):064x}"


def _row(ts: int, minute: int, index: int, truth: str, kind: str, record: dict[str, Any]) -> Record:
    return Record(ts, minute * SEQ_PER_MINUTE + index, truth, kind, dump(record))
