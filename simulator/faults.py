"""Scripted misbehaviour: faults for the next N calls of a route, and corrupted batch files."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Literal

API_ROUTES = (  # the routes with the meta/data/fail envelope (the feed answers "no results" with one)
    "dlp", "audit", "hold", "url", "attachment", "impersonation", "archive", "release", "feed",
)  # fmt: skip
ROUTES = ("token", "batch", "files", "streaming", "ci", *API_ROUTES)
FaultKind = Literal["status", "rate_limit", "slow", "drop", "fail_200"]


@dataclass
class Fault:
    """One scripted answer. `count` calls of `route` get it, then normal service resumes."""

    route: str
    kind: FaultKind = "status"
    count: int = 1
    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    reset_ms: int = 60_000
    client_id: str | None = None  # only calls by this client id get it (the token's, or the form's)


@dataclass
class Corruption:
    """A batch file served broken: `truncate` cuts the gzip stream, `bad_line` inserts invalid JSON."""

    mode: Literal["truncate", "bad_line"]
    line: int = 0
    times: int | None = None  # None: every download


class FaultBook:
    """The scripted faults and corruptions, consumed by the routes."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {route: deque() for route in ROUTES}
        self._corruptions: dict[str, Corruption] = {}
        self._lock = Lock()

    def add(self, fault: Fault) -> None:
        if fault.route not in self._faults:
            raise ValueError(f"unknown route {fault.route!r}; routes: {', '.join(ROUTES)}")
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        if fault.kind == "fail_200" and fault.route not in API_ROUTES:
            raise ValueError(f"fail_200 needs a route with a `fail` envelope: {', '.join(API_ROUTES)}")
        with self._lock:
            self._faults[fault.route].append(fault)

    def take(self, route: str, client_id: str | None = None) -> Fault | None:
        """The next fault for a call of `route` by `client_id` (None: a caller not yet known):
        the first queued one for any client or for this one."""
        with self._lock:
            queue = self._faults[route]
            fault = next((f for f in queue if f.client_id is None or f.client_id == client_id), None)
            if fault is None:
                return None
            fault.count -= 1
            if fault.count == 0:
                queue.remove(fault)
            return fault

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {route: sum(f.count for f in queue) for route, queue in self._faults.items() if queue}

    def corrupt(self, name: str, corruption: Corruption) -> None:
        if corruption.times is not None and corruption.times < 1:
            raise ValueError("times must be at least 1 (or absent: every download)")
        if corruption.line < 0:
            raise ValueError("line must be 0 or more")
        with self._lock:
            self._corruptions[name] = corruption

    def corruption_for(self, name: str) -> Corruption | None:
        """The corruption to apply to this download of file `name`, counting it down."""
        with self._lock:
            corruption = self._corruptions.get(name)
            if corruption is None:
                return None
            if corruption.times is not None:
                corruption.times -= 1
                if corruption.times <= 0:
                    del self._corruptions[name]
            return corruption
