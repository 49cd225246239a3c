"""The sink the engine writes to: each batch goes to every destination of its source's collector.

`write(batch)` returns only when every destination accepted the batch, and raises when any failed
(after trying all of them: the others are idempotent by batch id, so a retry rewrites them
harmlessly). A collector without destinations uses the deployment default (`SINK_URL`). Lookups
go through narrow ports, so the routing is tested with in-memory twins; sinks are built once per
destination and rebuilt when its stored version changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.clock import Clock, SystemClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import MISCONFIGURED, Batch, Sink

DEFAULT = "default"  # the name (and health id) of the SINK_URL destination in metrics and health


@dataclass(frozen=True)
class Resolved:
    """A destination as the router needs it: the config holds its secrets (memory only)."""

    id: str
    name: str
    type: str
    version: int
    config: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """One write to one destination: accepted (`code` None) or failed with a code and safe message."""

    destination_id: str
    name: str
    type: str
    records: int
    seconds: float
    at: datetime
    code: str | None = None
    message: str | None = None


class Report(Protocol):
    def record(self, outcome: Outcome) -> None:
        """Keep the outcome as the destination's health and metrics."""
        ...


Routes = Callable[[str], tuple[str, ...]]  # source id -> destination names ((): the default)
Resolve = Callable[[str], Resolved]  # name -> destination; raises LookupError when there is none
Opener = Callable[[Resolved], Sink]


class RouterSink:
    def __init__(
        self,
        default: Sink,
        *,
        routes: Routes,
        resolve: Resolve,
        open_sink: Opener,
        report: Report,
        clock: Clock | None = None,
        default_type: str = "default",
    ) -> None:
        self._default = default
        self._routes = routes
        self._resolve = resolve
        self._open = open_sink
        self._report = report
        self._clock = clock or SystemClock()
        self._default_type = default_type
        # Several threads of one process write at once under Celery's threads pool: the sinks
        # open, and those a destination's update replaced, are kept under one lock; a replaced sink
        # is closed once the last write that took it ends, never under a write.
        self._mutex = threading.Lock()
        self._open_sinks: dict[str, tuple[int, Sink]] = {}
        self._writing: dict[int, int] = {}  # id(sink) -> writes that hold it
        self._retired: dict[int, Sink] = {}  # replaced, closed when no write holds it

    def write(self, batch: Batch) -> None:
        names = self._routes(batch.source_id)
        if not names:
            target = Resolved(DEFAULT, DEFAULT, self._default_type, 0, {})
            self._write_one(target, self._default, batch)
            return
        failures: list[FirstPartyGenericError] = []
        for name in names:
            try:
                target = self._lookup(name)
                sink = self._take(target)
                try:
                    self._write_one(target, sink, batch)
                finally:
                    self._give_back(sink)
            except FirstPartyGenericError as exc:
                failures.append(exc)
        if failures:
            first = failures[0]
            more = f" (and {len(failures) - 1} more destination(s) failing)" if len(failures) > 1 else ""
            raise FirstPartyGenericError(first.summary + more, status=first.status, code=first.code)

    def _lookup(self, name: str) -> Resolved:
        try:
            return self._resolve(name)
        except LookupError:
            raise FirstPartyGenericError(
                f"destination {name!r} is routed to but does not exist: create it or change the collector",
                code=MISCONFIGURED,
            ) from None

    def _take(self, target: Resolved) -> Sink:
        """The open sink of the destination's current version (opened now if it has none), held for
        one write until `_give_back`."""
        with self._mutex:
            sink = self._sink(target)
            self._writing[id(sink)] = self._writing.get(id(sink), 0) + 1
            return sink

    def _give_back(self, sink: Sink) -> None:
        key = id(sink)
        with self._mutex:
            self._writing[key] -= 1
            if self._writing[key]:
                return
            del self._writing[key]
            replaced = self._retired.pop(key, None)
        if replaced is not None:
            replaced.close()

    def _sink(self, target: Resolved) -> Sink:
        """Under `_mutex`."""
        known = self._open_sinks.get(target.id)
        if known is not None and known[0] == target.version:
            return known[1]
        if known is not None:
            del self._open_sinks[target.id]
            if self._writing.get(id(known[1])):
                self._retired[id(known[1])] = known[1]
            else:
                known[1].close()
        try:
            sink = self._open(target)
        except (ValueError, OSError) as exc:  # a CA file that is missing, a URL that cannot be used
            raise FirstPartyGenericError(
                f"{target.type} destination {target.name!r} cannot be opened: {type(exc).__name__}: "
                f"{str(exc)[:160]}",
                code=MISCONFIGURED,
            ) from None
        self._open_sinks[target.id] = (target.version, sink)
        return sink

    def _write_one(self, target: Resolved, sink: Sink, batch: Batch) -> None:
        started = time.perf_counter()
        try:
            sink.write(batch)
        except FirstPartyGenericError as exc:
            error = _named(exc, target)
            self._report.record(
                Outcome(
                    target.id,
                    target.name,
                    target.type,
                    len(batch.messages),
                    time.perf_counter() - started,
                    self._clock.now(),
                    exc.code or "destination.error",
                    error.summary,
                )
            )
            raise error from None
        elapsed = time.perf_counter() - started
        self._report.record(
            Outcome(target.id, target.name, target.type, len(batch.messages), elapsed, self._clock.now())
        )

    def healthcheck(self) -> None:
        self._default.healthcheck()

    def close(self) -> None:
        self._default.close()
        with self._mutex:
            sinks = [sink for _, sink in self._open_sinks.values()] + list(self._retired.values())
            self._open_sinks.clear()
            self._retired.clear()
        for sink in sinks:
            sink.close()


def _named(exc: FirstPartyGenericError, target: Resolved) -> FirstPartyGenericError:
    """The error with the destination's name in its summary (sinks of today's two types omit it)."""
    if repr(target.name) in exc.summary:
        return exc
    return FirstPartyGenericError(
        f"{target.type} destination {target.name!r}: {exc.summary}", status=exc.status, code=exc.code
    )
