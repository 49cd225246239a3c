"""The fetch -> forward message, typed. Pure: no I/O here.

It carries ids, the lease handed to the forward, the cursors the page lies between, and the
records as (id, log type, JSON text as Mimecast sent it); never a secret. Its JSON form is what
Celery puts on the wire: strings and small lists, so the records' text is escaped once, in C.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RecordLine = tuple[str, str, str]


@dataclass(frozen=True)
class PageMessage:
    unit: str
    lease_token: str
    epoch: int
    version: int
    start: str  # cursor JSON the page starts from (part of the batch id)
    end: str  # cursor JSON to commit once the records are delivered
    finished: bool  # nothing more to read now: the unit waits for its next poll
    complete: bool  # a child that has read everything it owns: it finishes and frees its slot
    records: tuple[RecordLine, ...]
    quarantined: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "lease": [self.lease_token, self.epoch],
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "finished": self.finished,
            "complete": self.complete,
            "records": self.records,  # tuples go out as JSON arrays
            "quarantined": [dict(entry) for entry in self.quarantined],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PageMessage:
        """The inverse of `to_json`; KeyError, TypeError or ValueError on a malformed message."""
        token, epoch = data["lease"]
        return cls(
            unit=str(data["unit"]),
            lease_token=str(token),
            epoch=int(epoch),
            version=int(data["version"]),
            start=str(data["start"]),
            end=str(data["end"]),
            finished=bool(data["finished"]),
            complete=bool(data["complete"]),
            records=tuple(_line(record) for record in data["records"]),
            quarantined=tuple(dict(entry) for entry in data.get("quarantined", ())),
        )


def _line(record: Any) -> RecordLine:
    record_id, kind, text = record  # ValueError when a record is not three items
    if not (isinstance(record_id, str) and isinstance(kind, str) and isinstance(text, str)):
        raise TypeError("a record travels as three strings: id, log type, text")
    return record_id, kind, text
