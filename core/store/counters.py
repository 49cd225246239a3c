"""Monotonic counters in Redis, shared by every worker and read by `/metrics` at scrape time.

Counting in Redis rather than in each process keeps the figures right across prefork children,
worker restarts and scaling; a counter is a hash `name -> {labels: count}`. Records forwarded are
also kept per minute for the last 24 hours, with the lag (`core/store/history.py`), for the charts.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from core.clock import Clock
from core.store import keys
from core.store.coordination import redis_failures
from core.store.history import History

RECORDS_FORWARDED = "records_forwarded"  # labels: source, collection
PAGES_FETCHED = "pages_fetched"  # labels: source, collection
ERRORS = "errors"  # labels: source, collection, type
QUARANTINED_LINES = "quarantined_lines"  # labels: source, collection
THROTTLE_WAITS = "throttle_waits"  # labels: source, collection
PACING_WAITS = "pacing_waits"  # labels: endpoint, how (inline | rescheduled)
PACING_WAIT_MS = "pacing_wait_milliseconds"  # labels: endpoint, how
NAMES = (RECORDS_FORWARDED, PAGES_FETCHED, ERRORS, QUARANTINED_LINES)

Labels = tuple[tuple[str, str], ...]


def _field(labels: Mapping[str, str]) -> str:
    for name, value in labels.items():
        if any(mark in f"{name}{value}" for mark in ",="):
            raise ValueError(f"counter label {name}={value!r} holds ',' or '='")
    return ",".join(f"{name}={labels[name]}" for name in sorted(labels))


def _labels(field: str) -> Labels:
    return tuple(tuple(pair.split("=", 1)) for pair in field.split(",") if pair)  # type: ignore[misc]


class Counters:
    def __init__(self, client: redis.Redis, clock: Clock | None = None) -> None:
        self._redis = client
        self._history = History(client, clock)

    @property
    def history(self) -> History:
        """Records forwarded per minute and the lag, per collection, over the last 24 hours."""
        return self._history

    def add(self, name: str, labels: Mapping[str, str], amount: int = 1) -> None:
        """Add `amount` to a series. Records forwarded (even 0: a commit happened) also feed the
        per-minute history of their source's collection."""
        field = _field(labels)
        if name == RECORDS_FORWARDED and "source" in labels and "collection" in labels:
            self._history.record(labels["source"], labels["collection"], amount)
        if amount:
            with redis_failures("counter"):
                self._redis.hincrby(keys.counter(name), field, amount)

    def queue(
        self, pipe: redis.client.Pipeline, name: str, labels: Mapping[str, str], amount: int = 1
    ) -> None:
        """`add` as a command on `pipe`, sent with the caller's other commands in one round trip.
        Not for records forwarded, whose history `add` keeps as well."""
        if name == RECORDS_FORWARDED:
            raise ValueError("records forwarded also feed their history: use add()")
        if amount:
            pipe.hincrby(keys.counter(name), _field(labels), amount)

    def read(self, name: str) -> dict[Labels, int]:
        with redis_failures("counter read"):
            raw = self._redis.hgetall(keys.counter(name))
        return {_labels(_text(field)): int(value) for field, value in raw.items()}

    def forget_source(self, source_id: str) -> None:
        """Drop a deleted source's series."""
        with redis_failures("counter cleanup"):
            for name in NAMES:
                fields = [
                    f for f in self._redis.hkeys(keys.counter(name)) if f"source={source_id}" in _text(f)
                ]
                if fields:
                    self._redis.hdel(keys.counter(name), *fields)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
