"""Management API access keys: stored as salted SHA-256 digests, checked in constant time.

Keys are 256-bit random strings made here, so a fast digest is enough to keep a leaked Redis
from yielding a usable key; the clear key is shown once, at creation. An unknown access id is
checked against a dummy digest so that its answer takes as long as a wrong key's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis

from core.store import keys
from core.store.codec import dumps, text
from core.store.coordination import redis_failures

_DUMMY_SALT = "0" * 32
_DUMMY_DIGEST = "0" * 64


def digest(key: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets of any length."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8")).digest(), hashlib.sha256(expected.encode("utf-8")).digest()
    )


@dataclass(frozen=True)
class AccessKeyInfo:
    access_id: str
    label: str
    created: str


class AccessStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def create(self, label: str, now: datetime) -> tuple[str, str]:
        """A new access id and key; the key is not stored and cannot be shown again."""
        access_id = "ms" + secrets.token_hex(7)
        key = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = {"digest": digest(key, salt), "salt": salt, "label": label, "created": now.isoformat()}
        with redis_failures("access key create"):
            self._redis.hset(keys.access_keys(), access_id, dumps(record))
        return access_id, key

    def list(self) -> list[AccessKeyInfo]:
        with redis_failures("access key listing"):
            raw = self._redis.hgetall(keys.access_keys())
        found = []
        for access_id, body in sorted(raw.items()):
            record = json.loads(text(body))
            found.append(AccessKeyInfo(text(access_id), str(record["label"]), str(record["created"])))
        return found

    def revoke(self, access_id: str) -> bool:
        with redis_failures("access key revoke"):
            return bool(self._redis.hdel(keys.access_keys(), access_id))

    def verify(self, access_id: str, key: str) -> bool:
        """True when the pair is a stored, unrevoked key; the same work whether the id exists or not."""
        with redis_failures("access key check"):
            body = self._redis.hget(keys.access_keys(), access_id)
        record = json.loads(text(body)) if body is not None else {}
        salt = str(record.get("salt", _DUMMY_SALT))
        expected = str(record.get("digest", _DUMMY_DIGEST))
        matches = hmac.compare_digest(digest(key, salt).encode(), expected.encode())
        return matches and body is not None
