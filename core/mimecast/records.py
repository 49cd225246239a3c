"""Records as Mimecast sends them: stable ids, kinds and event times. Pure: no I/O here."""

from __future__ import annotations

import hashlib
import json
import operator
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from core.mimecast.streams import IdRule, StreamSpec
from core.models import JsonObject, Quarantined, Record
from core.processing.jsontext import one_object_lines


def siem_kind(raw: JsonObject) -> str:
    """The SIEM log type (`receipt`, `url protect`, ...), whichever field name carries it."""
    return _kind(raw.get("type"), raw.get("eventType"))


def _kind(type_field: object, event_type: object) -> str:
    kind = type_field or event_type
    return str(kind) if kind else "siem"


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _siem_id(account: object, kind: str, partition: object, offset: object, text: str, prefix: str) -> str:
    if partition is not None and offset is not None:
        # Kafka-style coordinates are unique per event; the type guards against per-type topics.
        # (A plain joined string: this runs once per line of every batch file.)
        material = f"{account}\x1f{kind}\x1f{partition}\x1f{offset}"
        return f"{prefix}-{hashlib.sha256(material.encode()).hexdigest()[:32]}"
    return f"{prefix}-{_text_digest(text)}"


def _prefix(spec: StreamSpec) -> str:
    """What a SIEM-family id starts with: `siem`, or the collection (Cloud Integrated)."""
    return spec.collection_name


def _field_id(spec: StreamSpec, raw: JsonObject) -> str | None:
    """The record's own id fields joined, or None when one is missing (the record is hashed instead)."""
    values = [raw.get(name) for name in spec.id_fields]
    if all(isinstance(value, str) and value for value in values):
        return "\x1f".join(str(value) for value in values)
    return None


def record_id(spec: StreamSpec, raw: JsonObject, text: str | None = None) -> str:
    """A stable id for downstream de-duplication: the same record always gets the same id.

    A record's own id where it has one; otherwise a digest of its text as Mimecast sent it (the
    same record read again is the same text).
    """
    text = text if text is not None else record_text(raw)
    if spec.id_rule is IdRule.SIEM:
        partition, offset = raw.get("_partition"), raw.get("_offset")
        return _siem_id(raw.get("accountId"), siem_kind(raw), partition, offset, text, _prefix(spec))
    if spec.id_rule is IdRule.FIELD and (own := _field_id(spec, raw)) is not None:
        return own
    # No id of its own (DLP): a digest of every field, keys sorted, so key order cannot split one
    # record into two (orjson sorts in C; this runs once per record).
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return f"{spec.collection_name}-{_text_digest(canonical)}"


def record_kind(spec: StreamSpec, raw: JsonObject) -> str:
    """What the record is, for metadata: the SIEM log type, the spec's kind field, or the collection."""
    if spec.id_rule is IdRule.SIEM:
        return siem_kind(raw)
    kind = raw.get(spec.kind_field) if spec.kind_field else None
    return kind if isinstance(kind, str) and kind else spec.collection_name


def record_text(raw: JsonObject) -> str:
    """A parsed record as one line of compact JSON, keys in the order received."""
    try:
        return orjson.dumps(raw).decode("utf-8")
    except TypeError:  # a lone surrogate, which orjson refuses: the standard library keeps it escaped
        return json.dumps(raw, separators=(",", ":"))


def to_record(spec: StreamSpec, raw: JsonObject, text: str | None = None) -> Record:
    """A record from its parsed form and, when known, the text it was parsed from."""
    text = text if text is not None else record_text(raw)
    return Record(
        id=record_id(spec, raw, text),
        collection=spec.collection_name,
        kind=record_kind(spec, raw),
        text=text,
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
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def record_time(spec: StreamSpec, raw: JsonObject) -> datetime | None:
    return parse_time(raw.get(spec.time_field)) if spec.time_field else None


class _SiemHead(msgspec.Struct, rename={"partition": "_partition", "offset": "_offset"}):
    """What a SIEM line's id and kind need of it; the rest of the line is checked, never built."""

    type: object = None
    eventType: object = None  # Mimecast's names
    accountId: object = None
    partition: object = None
    offset: object = None


# Reads a whole line as JSON (a malformed line or one that is not an object is refused) but makes
# Python values only of the five fields above: a third of the time of a full parse (bench p1).
_siem_head = msgspec.json.Decoder(_SiemHead).decode


def parse_line(spec: StreamSpec, source: str, position: int, line: bytes) -> Record | Quarantined | None:
    """One NDJSON line of a batch file: a record (its text is the line as sent), a quarantined line
    with the reason, or None if blank. A SIEM line is read once for what its id and kind need
    (`_siem_head`); any line that reading refuses, and any other stream's, takes the general path."""
    if spec.id_rule is IdRule.SIEM:
        try:
            head = _siem_head(line)
            text = line.decode("utf-8")
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass  # the general path says why (or, for what only the standard library reads, takes it)
        else:
            if not (text.startswith("{") and text.endswith("}")):
                text = text.strip()
            if "\r" not in text:
                kind = _kind(head.type, head.eventType)
                record_id = _siem_id(head.accountId, kind, head.partition, head.offset, text, _prefix(spec))
                return Record(record_id, spec.collection_name, kind, text)
    return _parse_any_line(spec, source, position, line)


def siem_records(spec: StreamSpec, lines: list[bytes]) -> list[Record] | None:
    """The records of consecutive SIEM lines, as `parse_line` makes them, in one pass; or None when
    the stream is not SIEM or any line is not what the pass reads (a JSON object alone on its line,
    in UTF-8): a blank, malformed or padded line, or one with a `\r`, is for `parse_line` to say.

    One pass, because it runs once per line of every batch file: no call per line but the id's.
    """
    if spec.id_rule is not IdRule.SIEM or not lines:
        return None
    try:
        heads = list(map(_siem_head, lines))
        texts = list(map(_utf8, lines))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not one_object_lines(texts):
        return None
    prefix, collection, kind_of, siem_id = _prefix(spec), spec.collection_name, _kind, _siem_id
    made: list[Record] = []
    for head, text in zip(heads, texts, strict=True):
        kind = kind_of(head.type, head.eventType)
        made.append(
            Record(
                siem_id(head.accountId, kind, head.partition, head.offset, text, prefix),
                collection,
                kind,
                text,
            )
        )
    return made


_utf8 = operator.methodcaller("decode", "utf-8")


def _parse_any_line(spec: StreamSpec, source: str, position: int, line: bytes) -> Record | Quarantined | None:
    """`parse_line` for any stream, by a full parse: the line's value, or why it is quarantined."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Quarantined(source, position, "line is not UTF-8", _kept(line))
    if not text:
        return None
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # orjson refuses what the standard library reads (lone surrogate escapes): ask it too
            raw = json.loads(text)
        except ValueError as exc:
            return Quarantined(source, position, f"line is not valid JSON: {exc}", _kept(line))
    if not isinstance(raw, dict):
        return Quarantined(source, position, "line is not a JSON object", _kept(line))
    if "\r" in text or "\n" in text:  # JSON whitespace a message line cannot hold
        text = record_text(raw)
    return to_record(spec, raw, text)


QUARANTINE_TEXT_LIMIT = 4096


def _kept(line: bytes) -> str:
    return line[:QUARANTINE_TEXT_LIMIT].decode("utf-8", errors="replace")
