"""A stored record and the id conventions the dataset builders share."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

SEQ_PER_MINUTE = 100_000
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Record:
    """One record as stored: its time, order, ground-truth id, log type and serialized JSON."""

    ts: int
    seq: int
    id: str
    kind: str
    raw: bytes
    until: int = 0  # held messages: when the message is released (epoch ms)

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.raw)
        return result


def opaque_id(prefix: bytes, *parts: object) -> str:
    """A stable id that looks like Mimecast's (URL-safe base64 of zlib data, `eN...`)."""
    text = prefix + b":" + ":".join(str(part) for part in parts).encode()
    return base64.urlsafe_b64encode(zlib.compress(text, 9)).decode().rstrip("=")


def dump(record: Mapping[str, object]) -> bytes:
    """A record as served: compact JSON."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def content_id(record: Mapping[str, object]) -> str:
    """The ground-truth id of a record that has no id of its own: a hash of its canonical JSON
    (sorted keys, no spaces), which a reader can compute from the record it received."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
