"""The simulator's mutable state: clock, credentials, issued tokens, faults, quotas and call counts.

The data itself is not state: it is a pure function of the seed (see dataset.py). `reset()` brings
everything else back to how it was at start, so one simulator process can serve many tests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Lock

from simulator.batches import BatchStore
from simulator.bulk import BulkFiles
from simulator.clock import SimClock
from simulator.dataset import Dataset, Record
from simulator.faults import FaultBook
from simulator.feed_records import CI_TYPES
from simulator.quotas import Quotas
from simulator.settings import COLLECTIONS, SimulatorSettings

# Which collection (application permission, or product for Cloud Integrated) each route needs.
# The threat-intel feed is one route for two collections: its `feedType` says which (`FEED_TYPES`).
COLLECTION_OF_ROUTE = {
    "batch": "siem",
    "streaming": "siem",
    "dlp": "dlp",
    "audit": "auditEvent",
    "hold": "holdMessageList",
    "url": "ttpUrl",
    "attachment": "ttpAttachment",
    "impersonation": "ttpImpersonation",
    "archive": "archiveSearch",
    "release": "holdReleaseLog",
    "ci": "cloudIntegrated",
}
FEED_TYPES = {"malware_customer": "threatIntelCustomer", "malware_grid": "threatIntelGrid"}
# Which quota setting limits each Mimecast route (each route still counts its own calls).
QUOTA_OF_ROUTE = {
    **{route: "api" for route in COLLECTION_OF_ROUTE},
    "batch": "batch",
    "streaming": "streaming",
    "ci": "batch",
    "feed": "api",
}
# Window totals kept (`window_total`); past this many, the memo starts afresh.
TOTALS_KEPT = 4096


@dataclass
class Client:
    client_id: str
    client_secret: str
    collections: set[str] = field(default_factory=lambda: set(COLLECTIONS))
    revoked: bool = False


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    expires_ms: int


class Simulation:
    """Everything one simulator process knows."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.initial = settings
        start_clock = SimClock(settings.start)
        self.started_ms = int(start_clock.started_at * 1000)
        origin_ms = self.started_ms - int(settings.backlog_hours * 3_600_000)
        self.dataset = Dataset(settings, origin_ms)
        signing_key = hashlib.sha256(f"{settings.seed}:{settings.control_token}".encode()).digest()
        self.batches = BatchStore(settings, self.dataset, signing_key)
        self.ci_batches = BatchStore(
            settings, self.dataset, signing_key, collection="cloudIntegrated", types=CI_TYPES, prefix="ci-"
        )
        self._lock = Lock()
        self._totals: dict[Hashable, int] = {}
        self._totals_generation = 0
        self.reset()

    def reset(self) -> None:
        settings = self.initial
        self.options = settings.model_copy()
        self.clock = SimClock(datetime.fromtimestamp(self.started_ms / 1000, UTC), settings.clock_frozen)
        self.clients = {settings.client_id: Client(settings.client_id, settings.client_secret)}
        self.tokens: dict[str, IssuedToken] = {}
        self.faults = FaultBook()
        self.bulk = BulkFiles(self.dataset)
        self.quotas = self._quotas()
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._forget_totals()

    def _quotas(self) -> Quotas:
        """One counter per route (each Mimecast endpoint has its own quota), limits per quota group."""
        limits = {
            "batch": self.options.quota_batch,
            "streaming": self.options.quota_streaming,
            "api": self.options.quota_api,
        }
        return Quotas({route: limits[group] for route, group in QUOTA_OF_ROUTE.items()})

    def configure(self, changes: dict[str, object]) -> None:
        """Change runtime options (validated as settings are); quotas start afresh."""
        allowed = {
            "token_error_status", "empty_last_page", "duplicate_url_rate", "overlap_rate", "latency_ms",
            "quota_batch", "quota_streaming", "quota_api", "batch_url_ttl_seconds", "empty_window_flat",
            "listing_order", "late_share", "late_minutes", "late_collections", "feed_page_objects",
            "feed_last_token", "quota_reset", "quota_headers",
        }  # fmt: skip
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(
                f"not a runtime option: {', '.join(sorted(unknown))}; options: {', '.join(sorted(allowed))}"
            )
        self.options = type(self.options).model_validate({**self.options.model_dump(), **changes})
        self.quotas = self._quotas()
        self._forget_totals()

    def window_total(self, key: Hashable, count: Callable[[], int]) -> int:
        """A window's `totalCount`, `count()`ed once for each `key` (route, window, filter and the
        moment asked at) while the options stay as they are (they say which records are visible).

        Counting scans the whole window, so recounting on every page made a window's paging
        quadratic: with the clock frozen (as `bench` runs it) every page of a window asks at the same
        moment, and 40 pages of DLP logs cost the simulator 0.8 s where the records took 0.1 s."""
        with self._lock:
            known, generation = self._totals.get(key), self._totals_generation
        if known is None:
            known = count()
            with self._lock:
                if generation == self._totals_generation:
                    if len(self._totals) >= TOTALS_KEPT:
                        self._totals.clear()
                    self._totals[key] = known
        return known

    def _forget_totals(self) -> None:
        with self._lock:
            self._totals.clear()
            self._totals_generation += 1

    def issue_token(self, client_id: str) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        ttl = self.options.token_ttl_seconds
        with self._lock:
            now = self.clock.now_ms()
            if len(self.tokens) > 10_000:
                self.tokens = {key: value for key, value in self.tokens.items() if value.expires_ms > now}
            self.tokens[token] = IssuedToken(client_id, now + ttl * 1000)
        return token, ttl

    def expire_tokens(self) -> int:
        with self._lock:
            now = self.clock.now_ms()
            self.tokens = {
                key: IssuedToken(value.client_id, min(value.expires_ms, now))
                for key, value in self.tokens.items()
            }
            return len(self.tokens)

    def available_at(self, collection: str, record: Record) -> int:
        """When a record can first be read: its time, or later for a late arrival (`late_share`)."""
        options = self.options
        if not options.late_share or collection not in options.late_collections:
            return record.ts
        if _chance(self.initial.seed, "late", record.id) >= options.late_share:
            return record.ts
        # 1 to `late_minutes` minutes late; under 2 minutes, half of `late_minutes` to all of it (so a
        # quick test can scale the minutes down to seconds).
        lowest = min(1.0, options.late_minutes / 2)
        delay = lowest + _chance(self.initial.seed, "delay", record.id) * (options.late_minutes - lowest)
        return record.ts + int(delay * 60_000)

    def visible(self, collection: str, record: Record, now_ms: int) -> bool:
        return self.available_at(collection, record) <= now_ms

    def count(self, route: str) -> None:
        with self._lock:
            self.calls[route] += 1

    def count_refused(self, route: str) -> None:
        """A call refused with a 429 because the client's quota on the route was spent."""
        with self._lock:
            self.refused[route] += 1


def _chance(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b(f"{seed}:{parts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64
