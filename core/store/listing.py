"""Creation-ordered listings of the management stores: ids from a sorted set, and the records
still there when read (one removed between the listing and the read is skipped)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis

from core.store.codec import text
from core.store.coordination import redis_failures
from core.store.outcomes import NotFound

T = TypeVar("T")


def ids_in(client: redis.Redis, key: str, offset: int, limit: int, what: str) -> list[str]:
    """The ids at `offset` .. `offset + limit` of the sorted set `key`, in creation order."""
    with redis_failures(what):
        found: list[Any] = client.zrange(key, offset, offset + limit - 1)
    return [text(item) for item in found if isinstance(item, bytes | str)]


def still_there(ids: Iterable[str], get: Callable[[str], T]) -> list[T]:
    """Each id's record, skipping the ones removed since the listing."""
    listed = []
    for one in ids:
        try:
            listed.append(get(one))
        except NotFound:
            continue
    return listed
