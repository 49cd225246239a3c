"""SIEM batch listings in Redis, shared by every worker: a file read in many tasks is listed once.

A listing maps file keys to their pre-signed URLs. It is kept only while its URLs are good (until
the earliest `expiry`, less a margin; a fixed lifetime when Mimecast gives none), so a task that
finds it gone or stale lists again, which is what it would have done without the cache. The Redis
key is a digest of the fetcher's cache key, so no page token ends up in a key name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from core.clock import Clock
from core.mimecast.records import parse_time
from core.models import BatchFile, digest
from core.store import keys
from core.store.coordination import redis_failures

EXPIRY_MARGIN_SECONDS = 30.0
# Without an `expiry`, keep a listing as long as peers keep a pre-signed URL worth trying.
DEFAULT_TTL_SECONDS = 15 * 60.0
MAX_TTL_SECONDS = 6 * 3600.0


class RedisListingCache:
    """A ListingCache (see `core.mimecast.fetcher`) backed by Redis."""

    def __init__(self, client: redis.Redis, clock: Clock) -> None:
        self._redis = client
        self._clock = clock

    def get(self, key: str) -> dict[str, BatchFile] | None:
        with redis_failures("batch listing read"):
            raw = self._redis.get(keys.batch_listing(digest(key)))
        if raw is None:
            return None
        try:
            return {name: _file(name, entry) for name, entry in json.loads(raw).items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None  # an unreadable entry is a miss: the fetcher lists again

    def put(self, key: str, files: dict[str, BatchFile]) -> None:
        ttl = self.ttl_seconds(files.values())
        if ttl <= 0:
            return  # its URLs are already stale: nothing worth sharing
        payload = json.dumps(
            {
                name: {"url": file.url, "size": file.size, "expiry": file.expiry}
                for name, file in files.items()
            },
            separators=(",", ":"),
        )
        with redis_failures("batch listing write"):
            self._redis.set(keys.batch_listing(digest(key)), payload, px=max(int(ttl * 1000), 1))

    def ttl_seconds(self, files: Iterable[BatchFile]) -> float:
        """How long the listing's URLs stay good: until the earliest expiry, less a margin."""
        now = self._clock.now()
        expiries = [parse_time(file.expiry) for file in files if file.expiry]
        known = [moment for moment in expiries if moment is not None]
        if not known:
            return DEFAULT_TTL_SECONDS
        left = (min(known) - now).total_seconds() - EXPIRY_MARGIN_SECONDS
        return min(left, MAX_TTL_SECONDS)


def _file(name: str, entry: dict[str, Any]) -> BatchFile:
    size = entry.get("size")
    expiry = entry.get("expiry")
    return BatchFile(
        key=name,
        url=str(entry["url"]),
        size=size if isinstance(size, int) else None,
        expiry=expiry if isinstance(expiry, str) else None,
    )
