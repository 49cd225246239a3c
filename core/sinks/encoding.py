"""Batches as bytes: NDJSON lines for the file sink, header sets and request parts for the HTTP sink.

Pure: no I/O here. The HTTP form follows the hosted-collector HTTP-source protocol: one message per
line, metadata in `X-Sumo-*` headers (so messages with different metadata go in different
requests), each request body under a size limit before compression, and `X-Batch-Id`,
`X-Batch-Part`, `X-Batch-Parts` headers so a receiver can de-duplicate a re-sent part.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.sinks.contract import Batch, Message

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# A string as JSON, as `_json` writes it (ensure_ascii off), without its Python frame: once per record.
_quoted = json.encoder.encode_basestring

MAX_REQUEST_BYTES = 1_000_000  # the protocol asks for requests under 1 MB before compression

# `_source`, `_sourceCategory` and `_collector` travel in their own headers; the rest in X-Sumo-Fields.
NAME_HEADER = "X-Sumo-Name"
CATEGORY_HEADER = "X-Sumo-Category"
HOST_HEADER = "X-Sumo-Host"
FIELDS_HEADER = "X-Sumo-Fields"
BATCH_HEADER = "X-Batch-Id"
PART_HEADER = "X-Batch-Part"
PARTS_HEADER = "X-Batch-Parts"
_OWN_HEADERS = {"_source": NAME_HEADER, "_sourceCategory": CATEGORY_HEADER, "_collector": HOST_HEADER}

# Control characters cannot appear in a header at all; in X-Sumo-Fields `,` and `=` are syntax and
# `%` is the escape itself. Each is written as %XX, so a value can never smuggle in another field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_SYNTAX = re.compile(r"[\x00-\x1f\x7f%,=]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


def header_value(text: str) -> bytes:
    """A header value: UTF-8, control characters percent-encoded."""
    return _CONTROL.sub(_percent, text).encode("utf-8")


def fields_header(metadata: Mapping[str, str]) -> str:
    """`k1=v1,k2=v2` of every metadata entry without a header of its own; `%`, `,`, `=` escaped."""
    return ",".join(
        f"{_FIELD_SYNTAX.sub(_percent, name)}={_FIELD_SYNTAX.sub(_percent, value)}"
        for name, value in metadata.items()
        if name not in _OWN_HEADERS
    )


def request_headers(metadata: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """The X-Sumo-* headers of one metadata set, in a fixed order."""
    headers = [
        (header, header_value(metadata[key])) for key, header in _OWN_HEADERS.items() if key in metadata
    ]
    fields = fields_header(metadata)
    if fields:
        headers.append((FIELDS_HEADER, header_value(fields)))
    return headers


def ndjson_line(batch: Batch, message: Message, metadata_json: str | None = None) -> str:
    """One line of the file destination; `message` is embedded as the record's own JSON text."""
    if metadata_json is None:
        metadata_json = _json(dict(message.metadata))
    return (
        f'{{"id":{_json(message.id)},'
        f'"dataCollection":{_json(batch.collection)},'
        f'"logType":{_json(message.log_type)},'
        f'"metadata":{metadata_json},'
        f'"message":{message.text}}}\n'
    )


def ndjson_lines(batch: Batch) -> bytes:
    """The whole batch as the file destination's lines, UTF-8, byte for byte what `ndjson_line`
    writes; what messages share (collection, log type, metadata) is encoded once per batch."""
    middles: dict[tuple[int, str], str] = {}
    collection = _json(batch.collection)
    lines = []
    for message in batch.messages:
        key = (id(message.metadata), message.log_type)
        middle = middles.get(key)
        if middle is None:
            middle = middles[key] = (
                f'"dataCollection":{collection},"logType":{_json(message.log_type)},'
                f'"metadata":{_json(dict(message.metadata))},"message":'
            )
        lines.append(f'{{"id":{_quoted(message.id)},{middle}{message.text}}}\n')
    return "".join(lines).encode("utf-8")


@dataclass(frozen=True)
class Part:
    """One HTTP request of a batch: its number (from 1), the headers and the uncompressed body."""

    number: int
    total: int
    count: int
    headers: tuple[tuple[str, bytes], ...]
    body: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        """Names exactly what was sent, so a part already accepted is not sent again."""
        material = hashlib.sha256()
        for name, value in self.headers:
            material.update(name.encode() + b":" + value + b"\n")
        material.update(b"\n" + self.body)
        return material.hexdigest()


def http_parts(batch: Batch, max_bytes: int = MAX_REQUEST_BYTES) -> list[Part]:
    """Split a batch into requests: one metadata set per request, each body at most `max_bytes`.

    Order is kept among messages that share metadata; metadata sets go in order of first appearance.
    A single message longer than `max_bytes` travels alone rather than being cut.
    """
    groups: dict[tuple[tuple[str, str], ...], list[Message]] = {}
    for message in batch.messages:
        groups.setdefault(tuple(message.metadata.items()), []).append(message)
    chunks: list[tuple[Mapping[str, str], list[bytes]]] = []
    for messages in groups.values():
        lines: list[bytes] = []
        size = 0
        for message in messages:
            line = message.text.encode("utf-8") + b"\n"
            if lines and size + len(line) > max_bytes:
                chunks.append((messages[0].metadata, lines))
                lines, size = [], 0
            lines.append(line)
            size += len(line)
        chunks.append((messages[0].metadata, lines))
    total = len(chunks)
    return [
        Part(
            number=number,
            total=total,
            count=len(lines),
            headers=(
                *request_headers(metadata),
                (BATCH_HEADER, batch.id.encode()),
                (PART_HEADER, str(number).encode()),
                (PARTS_HEADER, str(total).encode()),
            ),
            body=b"".join(lines),
        )
        for number, (metadata, lines) in enumerate(chunks, start=1)
    ]
