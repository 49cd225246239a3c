"""Batches for sink tests: realistic metadata, small records, deterministic ids."""

from __future__ import annotations

import json
from collections.abc import Mapping

from core.processing.metadata import SourceMetadata
from core.sinks.contract import Batch, Message

SOURCE = SourceMetadata.build(
    name="Mimecast",
    category="mail/mimecast",
    collector="hosted-1",
    fields={"team": "mail", "_siemForward": True},
    schema=frozenset({"team"}),
)


def message(
    index: int, log_type: str = "receipt", metadata: Mapping[str, str] | None = None, pad: int = 0
) -> Message:
    record = {"type": log_type, "n": index, "subject": f"message {index}", "pad": "x" * pad}
    return Message(
        id=f"siem-{index:06d}",
        log_type=log_type,
        metadata=metadata if metadata is not None else SOURCE.for_record("siem", log_type),
        text=json.dumps(record, separators=(",", ":")),
    )


def batch(
    count: int = 3, batch_id: str = "batch-1", *, pad: int = 0, log_types: tuple[str, ...] = ("receipt",)
) -> Batch:
    return Batch(
        id=batch_id,
        source_id="src-1",
        collector="hosted-1",
        source="Mimecast",
        collection="siem",
        messages=tuple(message(i, log_types[i % len(log_types)], pad=pad) for i in range(count)),
    )
