"""Rate limits per client and endpoint over fixed windows of simulated time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from threading import Lock
from typing import Literal

ResetForm = Literal["ms", "epoch_seconds"]
HeadersOn = Literal["every_answer", "on_429"]


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_ms: int
    now_ms: int = 0

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self, reset: ResetForm = "ms", on: HeadersOn = "every_answer") -> dict[str, str]:
        """`X-RateLimit-*` of an answer: the reset as milliseconds to wait (the docs) or as the epoch
        second it comes (Sekoia's reading); on every answer, or only on a 429 (both unconfirmed)."""
        if on == "on_429" and not self.exceeded:
            return {}
        if reset == "epoch_seconds":
            shown = str(math.ceil((self.now_ms + self.reset_ms) / 1000))
        else:
            shown = str(self.reset_ms)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": shown,
        }


class Quotas:
    """Counts calls per (client, endpoint, window); a refused call does not use the quota."""

    def __init__(self, limits: dict[str, tuple[int, int]]) -> None:
        self.limits = dict(limits)
        self._used: dict[tuple[str, str, int], int] = {}
        self._lock = Lock()

    def spend(self, client_id: str, endpoint: str, now_ms: int) -> Quota:
        limit, window_s = self.limits[endpoint]
        window_ms = window_s * 1000
        window = now_ms // window_ms
        reset_ms = (window + 1) * window_ms - now_ms
        with self._lock:
            used = self._used.get((client_id, endpoint, window), 0)
            if used >= limit:
                return Quota(limit, -1, reset_ms, now_ms)
            self._used[(client_id, endpoint, window)] = used + 1
            if len(self._used) > 10_000:
                self._used = {key: value for key, value in self._used.items() if key[2] >= window - 1}
        return Quota(limit, limit - used - 1, reset_ms, now_ms)
