"""The fields schema: custom field names a source's `fields` may use (others are dropped)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from core.store import keys
from core.store.codec import dumps, fold, text
from core.store.coordination import redis_failures
from core.store.outcomes import NameTaken, NotFound

# KEYS: names, fields. ARGV: folded name, id, JSON.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
# KEYS: names, fields. ARGV: id, folded name.
_DELETE = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[2])
end
return 1
"""


@dataclass(frozen=True)
class Field:
    field_id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"fieldId": self.field_id, "fieldName": self.name, "dataType": "String", "state": "Enabled"}


class FieldStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._create: Callable[..., Any] = client.register_script(_CREATE)
        self._delete: Callable[..., Any] = client.register_script(_DELETE)

    def create(self, name: str) -> Field:
        field = Field(secrets.token_hex(8).upper(), name)
        with redis_failures("field create"):
            created = int(
                self._create(
                    keys=[keys.field_names(), keys.fields()],
                    args=[fold(name), field.field_id, dumps(field.to_json())],
                )
            )
        if not created:
            raise NameTaken(f"a field named {name!r} already exists")
        return field

    def all(self) -> list[Field]:
        with redis_failures("field listing"):
            raw = self._redis.hvals(keys.fields())
        found = [json.loads(text(body)) for body in raw]
        return sorted((Field(item["fieldId"], item["fieldName"]) for item in found), key=lambda f: f.name)

    def get(self, field_id: str) -> Field:
        with redis_failures("field read"):
            body = self._redis.hget(keys.fields(), field_id)
        if body is None:
            raise NotFound(f"field {field_id} not found")
        item = json.loads(text(body))
        return Field(item["fieldId"], item["fieldName"])

    def delete(self, field_id: str) -> None:
        field = self.get(field_id)
        with redis_failures("field delete"):
            deleted = int(
                self._delete(keys=[keys.field_names(), keys.fields()], args=[field_id, fold(field.name)])
            )
        if not deleted:
            raise NotFound(f"field {field_id} not found")

    def names(self) -> set[str]:
        """The schema's names, case-folded."""
        with redis_failures("field listing"):
            return {text(name) for name in self._redis.hkeys(keys.field_names())}


def dropped(source_fields: dict[str, Any], schema: set[str]) -> list[str]:
    """The custom field names of a source that the schema lacks (built-in `_` names always pass)."""
    return sorted(name for name in source_fields if not name.startswith("_") and fold(name) not in schema)
