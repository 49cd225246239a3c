"""The fetch -> forward message, typed. Pure: no I/O here.

It carries ids, the lease handed to the forward, the cursors the page lies between, and the
records (`Record`: id, log type, JSON text as Mimecast sent it); never a secret. The fetch task
hands it to the forward in the same process, records as they were read; its JSON form is what
Celery puts on the wire for a `forward` task: strings and small lists, each record as the array
(id, log type, text), so the records' text is escaped once, in C.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from core.engine.units import parse
from core.models import Record

_LINE = attrgetter("id", "kind", "text")  # a record on the wire, in C: once per record


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
    records: tuple[Record, ...]
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
            "records": list(map(_LINE, self.records)),  # tuples go out as JSON arrays
            "quarantined": [dict(entry) for entry in self.quarantined],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PageMessage:
        """The inverse of `to_json`; KeyError, TypeError or ValueError on a malformed message."""
        token, epoch = data["lease"]
        collection = parse(str(data["unit"])).collection
        return cls(
            unit=str(data["unit"]),
            lease_token=str(token),
            epoch=int(epoch),
            version=int(data["version"]),
            start=str(data["start"]),
            end=str(data["end"]),
            finished=bool(data["finished"]),
            complete=bool(data["complete"]),
            records=tuple(_record(collection, line) for line in data["records"]),
            quarantined=tuple(dict(entry) for entry in data.get("quarantined", ())),
        )


def _record(collection: str, line: Any) -> Record:
    record_id, kind, text = line  # ValueError when a record is not three items
    if not (isinstance(record_id, str) and isinstance(kind, str) and isinstance(text, str)):
        raise TypeError("a record travels as three strings: id, log type, text")
    return Record(record_id, collection, kind, text)
