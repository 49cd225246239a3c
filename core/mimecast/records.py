"""Records as Mimecast sends them: stable ids, kinds and event times. Pure: no I/O here."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from core.mimecast.streams import IdRule, StreamSpec
from core.models import JsonObject, Quarantined, Record

# Batch files name the log type `type`/`subtype`; documentation-style samples and, perhaps, the
# streaming endpoint name it `eventType`/`subType` (spec 5.5, unconfirmed). Ids must not depend on it.
_NAME_VARIANTS = {"eventType": "type", "subType": "subtype"}


def canonical_json(value: Any) -> str:
    """The one text form used for hashing: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _hash(prefix: str, material: Any) -> str:
    return f"{prefix}-{hashlib.sha256(canonical_json(material).encode()).hexdigest()[:32]}"


def siem_kind(raw: JsonObject) -> str:
    """The SIEM log type (`receipt`, `url protect`, ...), whichever field name carries it."""
    kind = raw.get("type") or raw.get("eventType")
    return str(kind) if kind else "siem"


def _siem_id(raw: JsonObject, prefix: str) -> str:
    if raw.get("_partition") is not None and raw.get("_offset") is not None:
        # Kafka-style coordinates are unique per event; the type guards against per-type topics.
        # (A plain joined string: this runs once per line of every batch file.)
        material = f"{raw.get('accountId')}\x1f{siem_kind(raw)}\x1f{raw['_partition']}\x1f{raw['_offset']}"
        return f"{prefix}-{hashlib.sha256(material.encode()).hexdigest()[:32]}"
    normalized = {
        (_NAME_VARIANTS[name] if name in _NAME_VARIANTS and _NAME_VARIANTS[name] not in raw else name): value
        for name, value in raw.items()
    }
    return _hash(prefix, normalized)


def _field_id(spec: StreamSpec, raw: JsonObject) -> str | None:
    """The record's own id fields joined, or None when one is missing (the record is hashed instead)."""
    values = [raw.get(name) for name in spec.id_fields]
    if all(isinstance(value, str) and value for value in values):
        return "\x1f".join(str(value) for value in values)
    return None


def record_id(spec: StreamSpec, raw: JsonObject) -> str:
    """A stable id for downstream de-duplication: the same record always gets the same id."""
    if spec.id_rule is IdRule.SIEM:
        return _siem_id(raw, "siem" if spec.collection.value == "siem" else spec.collection.value)
    if spec.id_rule is IdRule.FIELD and (own := _field_id(spec, raw)) is not None:
        return own
    return _hash(spec.collection.value, raw)


def record_kind(spec: StreamSpec, raw: JsonObject) -> str:
    """What the record is, for metadata: the SIEM log type, the spec's kind field, or the collection."""
    if spec.id_rule is IdRule.SIEM:
        return siem_kind(raw)
    kind = raw.get(spec.kind_field) if spec.kind_field else None
    return kind if isinstance(kind, str) and kind else spec.collection.value


def to_record(spec: StreamSpec, raw: JsonObject) -> Record:
    return Record(
        id=record_id(spec, raw), collection=spec.collection.value, kind=record_kind(spec, raw), raw=raw
    )


def parse_time(value: Any) -> datetime | None:
    """An event time as Mimecast writes it (epoch ms, `+0000` or ISO form), or None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    # fromisoformat (3.11+) reads `+0000` too, and is far quicker than strptime; this runs per record.
    for parse in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def record_time(spec: StreamSpec, raw: JsonObject) -> datetime | None:
    return parse_time(raw.get(spec.time_field)) if spec.time_field else None


def parse_line(spec: StreamSpec, source: str, position: int, line: bytes) -> Record | Quarantined | None:
    """One NDJSON line of a batch file: a record, a quarantined line with the reason, or None if blank."""
    if not line.strip():
        return None
    try:
        raw = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return Quarantined(source, position, "line is not UTF-8", _kept(line))
    except ValueError as exc:
        return Quarantined(source, position, f"line is not valid JSON: {exc}", _kept(line))
    if not isinstance(raw, dict):
        return Quarantined(source, position, "line is not a JSON object", _kept(line))
    return to_record(spec, raw)


QUARANTINE_TEXT_LIMIT = 4096


def _kept(line: bytes) -> str:
    return line[:QUARANTINE_TEXT_LIMIT].decode("utf-8", errors="replace")
