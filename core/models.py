"""Frozen values that cross module lines: credentials, records, requests, cursors, pages.

Pure: no I/O here. `JsonObject` appears only where a raw Mimecast payload travels as it came.
Cursors are the checkpoints: `cursor_to_json` / `cursor_from_json` give their stored form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import ItemsView, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from operator import itemgetter
from typing import Any

import msgspec
import orjson

from core.errors import UnreadableCheckpoint

JsonObject = dict[str, Any]


def digest(text: str) -> str:
    """A short stable fingerprint (64 bits, hex) for remembering ids and tokens in a cursor."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Credentials:
    """A Mimecast API 2.0 application's client id and secret; the secret never shows in a repr."""

    client_id: str
    client_secret: str = field(repr=False)

    @property
    def key(self) -> str:
        """Names this credential pair in caches and locks without revealing the secret."""
        material = f"{self.client_id}\n{self.client_secret}".encode()
        return hashlib.sha256(material).hexdigest()[:32]


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the moment (epoch seconds) Mimecast stops accepting it."""

    value: str = field(repr=False)
    expires_at: float


class Record(msgspec.Struct, frozen=True, gc=False):
    """One Mimecast record as its JSON object text (as Mimecast sent it: a batch file's line as is),
    with a stable id for downstream de-duplication and its log type. Parsed only when asked (`raw`).

    A frozen msgspec struct rather than a dataclass: one is made per record of every page, and
    it builds in a tenth of the time (bench p1); no reference cycle, so the GC need not track it.
    """

    id: str
    collection: str
    kind: str
    text: str

    def __repr__(self) -> str:
        return f"Record(id={self.id!r}, collection={self.collection!r}, kind={self.kind!r})"

    @property
    def raw(self) -> JsonObject:
        parsed: JsonObject = orjson.loads(self.text)
        return parsed

    def to_json(self) -> JsonObject:
        return {"id": self.id, "collection": self.collection, "kind": self.kind, "text": self.text}

    @classmethod
    def from_json(cls, data: JsonObject) -> Record:
        return cls(id=data["id"], collection=data["collection"], kind=data["kind"], text=data["text"])


# Where a client puts the response headers a request asks to keep (`Request.keep_headers`), in the
# JSON object it returns: names in lower case. No Mimecast answer has a key of this name.
KEPT_HEADERS = "@headers"


@dataclass(frozen=True)
class Request:
    """One call to the Mimecast API, relative to the gateway's base URL.

    `keep_headers` names response headers the caller needs (the threat-intel feed pages by one);
    the client returns them under `KEPT_HEADERS` in the answer's JSON object.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: JsonObject | None = None
    keep_headers: tuple[str, ...] = ()


_BY_TIME = itemgetter(1, 0)  # a remembered id's canonical place: by time, then digest (in C)


class KnownIds:
    """Digests of ids already handed out, each with its record's time (epoch seconds), so the
    memory stays bounded by time: a window that starts at `t` can return no record timed before
    `t`, so `since(t)` forgets those ids. A record whose id is remembered is not handed out again.

    What a stream remembers, and when it forgets, is its spec's de-duplication rule (`Dedupe`).
    Immutable. Held as a mapping; `entries` gives the one canonical order (by time, then digest),
    sorted only when asked for (writing a cursor) or when a cap forgets the oldest: a page's ids
    added to a memory of tens of thousands cost a copy, not a sort (bench p1, the hold list).
    Equal memories compare equal whatever order they were built in.
    """

    __slots__ = ("_sorted", "_times")

    def __init__(self, entries: Iterable[tuple[str, int]] = ()) -> None:
        self._times: dict[str, int] = dict(entries)
        self._sorted: tuple[tuple[str, int], ...] | None = None

    @classmethod
    def of(cls, times: Mapping[str, int]) -> KnownIds:
        return cls._owning(dict(times))

    @classmethod
    def _owning(cls, times: dict[str, int]) -> KnownIds:
        known = cls.__new__(cls)
        known._times, known._sorted = times, None
        return known

    @property
    def entries(self) -> tuple[tuple[str, int], ...]:
        if self._sorted is None:
            self._sorted = tuple(sorted(self._times.items(), key=_BY_TIME))
        return self._sorted

    def __contains__(self, item: object) -> bool:
        return item in self._times

    def __len__(self) -> int:
        return len(self._times)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KnownIds) and self._times == other._times

    def __hash__(self) -> int:
        return hash(frozenset(self._times.items()))

    def __repr__(self) -> str:
        return f"KnownIds({len(self._times)} ids)"

    def time_of(self, item: str) -> int | None:
        return self._times.get(item)

    def items(self) -> ItemsView[str, int]:
        """Each id with its time, in no particular order (`entries` for the canonical one)."""
        return self._times.items()

    def add(self, times: Mapping[str, int], cap: int) -> KnownIds:
        """Remember more ids; past `cap` the oldest-timed are forgotten first (a repeat, never a loss)."""
        merged = dict(self._times)
        for key, moment in times.items():
            merged[key] = max(moment, merged.get(key, moment))
        if len(merged) <= cap:
            return KnownIds._owning(merged)
        ordered = sorted(merged.items(), key=_BY_TIME)
        return KnownIds._owning(dict(ordered[len(ordered) - cap :]))  # the newest-timed

    def since(self, moment: int) -> KnownIds:
        """Only the ids timed at or after `moment` (epoch seconds): no later window reads the others."""
        if all(time >= moment for time in self._times.values()):
            return self
        return KnownIds._owning({key: time for key, time in self._times.items() if time >= moment})


@dataclass(frozen=True)
class WindowCursor:
    """Where a windowed stream stands (DLP, audit, hold list, SIEM streaming).

    `[start, end)` is the window being paged; `end` is None while no window is open. The page
    token belongs to the window and is cleared when the window moves. `known` and `last_page`
    hold digests of ids already handed out (see `Dedupe` in `core.mimecast.streams`).
    """

    start: datetime
    end: datetime | None = None
    page_token: str | None = None
    tokens_seen: tuple[str, ...] = ()
    known: KnownIds = field(default_factory=KnownIds)
    last_page: frozenset[str] = frozenset()
    until: datetime | None = None
    # A sub-window of a split backfill owns the records timed in [since, until): it asks a little
    # wider (from before `since`) and hands out only its own, so neither edge loses or repeats one.
    since: datetime | None = None
    # SIEM streaming only: where the last window it closed ended. Every record timed before it was
    # handed out, none after: where a switch to batch files starts (`core.engine.siem_mode`).
    edge: datetime | None = None
    # The end of the last window read. The next window starts an overlap before it (late-indexed
    # records are read again, the ids already handed out dropped) and opens once it reaches past it.
    read_to: datetime | None = None
    # Which reset (backfill) the stream's cursors descend from: a reset's moment in ms, 0 before any.
    # It is part of every cursor's text, hence of every batch id, so that a reset forwards records
    # again even where its windows and pages come out exactly as before (the same start twice).
    run: int = 0

    @property
    def reached(self) -> datetime:
        """How far the stream has read: the end of its last window, or its start before the first."""
        return self.start if self.read_to is None else max(self.start, self.read_to)

    @property
    def complete(self) -> bool:
        """A bounded cursor that has read up to its `until`: nothing is left for it, ever."""
        return self.until is not None and self.end is None and self.start >= self.until


@dataclass(frozen=True)
class Handover:
    """A SIEM batch stream on its way to the streaming endpoint (`core.engine.siem_mode`).

    Records timed from `at` on are left to streaming. `token` and `start_date` are where the batch
    listing stood when `at` was fixed: listing from there again, from `at` on, undoes the handover.
    `settled` once a caught-up listing was read long enough after `at` that every file holding a
    record timed before `at` has been listed.
    """

    at: datetime
    token: str | None = None
    start_date: date | None = None
    settled: bool = False


@dataclass(frozen=True)
class BatchCursor:
    """Where the SIEM batch stream stands: `@nextPage` kept for ever, plus the file and line.

    `token` is the `@nextPage` that produced the listing being read (None before the first
    listing, which is asked for by `start_date`). `files` are the listing's file keys (URLs
    without their signed query), read in order; `line` counts the lines of `files[file_index]`
    already handed out. Once the listing is read, `next_token` becomes `token`.
    """

    token: str | None = None
    start_date: date | None = None
    next_token: str | None = None
    files: tuple[str, ...] = ()
    file_index: int = 0
    line: int = 0
    caught_up: bool = False
    tokens_seen: tuple[str, ...] = ()
    # Bounds on the records handed out, by their `timestamp` (children inherit them): from `since`
    # on (a switch from streaming, which delivered what came before) and before `until` (a
    # handover to streaming, which delivers the rest). See `core.engine.siem_mode`.
    since: datetime | None = None
    until: datetime | None = None
    # The stream's own: a handover to streaming under way, and no new one before `streaming_after`
    # (streaming could not keep up within its quota).
    handover: Handover | None = None
    streaming_after: datetime | None = None
    run: int = 0  # as WindowCursor.run

    @property
    def reading(self) -> str | None:
        """The key of the file being read, if any."""
        return self.files[self.file_index] if self.file_index < len(self.files) else None


Cursor = WindowCursor | BatchCursor


@dataclass(frozen=True)
class BatchFile:
    """One entry of a SIEM batch listing."""

    key: str
    url: str = field(repr=False)
    size: int | None = None
    expiry: str | None = None


@dataclass(frozen=True)
class Quarantined:
    """A line or record that could not be read; kept with where it was and why."""

    source: str
    position: int
    reason: str
    text: str = field(repr=False, default="")


@dataclass(frozen=True)
class Gap:
    """Data Mimecast can no longer serve: a batch file that stayed gone, or a time range past reach."""

    what: str
    reason: str


@dataclass(frozen=True)
class Page:
    """One unit of work: the records read between two cursors. Commit `end` once they are delivered."""

    stream: str
    records: tuple[Record, ...]
    start: Cursor
    end: Cursor
    finished: bool
    quarantined: tuple[Quarantined, ...] = ()
    gaps: tuple[Gap, ...] = ()


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def cursor_to_json(cursor: Cursor) -> JsonObject:
    """The stored form of a cursor: plain JSON, stable across releases."""
    if isinstance(cursor, WindowCursor):
        return {
            "kind": "window",
            "start": cursor.start.isoformat(),
            "end": _time(cursor.end),
            "pageToken": cursor.page_token,
            "tokensSeen": list(cursor.tokens_seen),
            "known": _known_json(cursor.known),
            "lastPage": sorted(cursor.last_page),
            "until": _time(cursor.until),
            **({"since": cursor.since.isoformat()} if cursor.since is not None else {}),
            **({"edge": cursor.edge.isoformat()} if cursor.edge is not None else {}),
            **({"readTo": cursor.read_to.isoformat()} if cursor.read_to is not None else {}),
            **({"run": cursor.run} if cursor.run else {}),
        }
    return {
        "kind": "batch",
        "token": cursor.token,
        "startDate": cursor.start_date.isoformat() if cursor.start_date else None,
        "nextToken": cursor.next_token,
        "files": list(cursor.files),
        "fileIndex": cursor.file_index,
        "line": cursor.line,
        "caughtUp": cursor.caught_up,
        "tokensSeen": list(cursor.tokens_seen),
        **_batch_modes(cursor),
        **({"run": cursor.run} if cursor.run else {}),
    }


def _batch_modes(cursor: BatchCursor) -> JsonObject:
    """The SIEM-mode parts of a batch cursor, only when set (older cursors keep their stored form)."""
    found: JsonObject = {}
    if cursor.since is not None:
        found["since"] = cursor.since.isoformat()
    if cursor.until is not None:
        found["until"] = cursor.until.isoformat()
    if cursor.streaming_after is not None:
        found["streamingAfter"] = cursor.streaming_after.isoformat()
    if cursor.handover is not None:
        found["handover"] = {
            "at": cursor.handover.at.isoformat(),
            "token": cursor.handover.token,
            "startDate": cursor.handover.start_date.isoformat() if cursor.handover.start_date else None,
            "settled": cursor.handover.settled,
        }
    return found


def _handover_from(data: Any) -> Handover | None:
    if not isinstance(data, dict):
        return None
    at = _parse_time(data["at"])
    if at is None:
        raise ValueError("a handover needs its time")
    start_date = data.get("startDate")
    return Handover(
        at=at,
        token=data.get("token"),
        start_date=date.fromisoformat(start_date) if start_date else None,
        settled=bool(data.get("settled", False)),
    )


def _known_json(known: KnownIds) -> JsonObject:
    """Remembered ids grouped by their time (epoch seconds as text): each time is written once."""
    grouped: dict[str, list[str]] = {}
    for key, moment in known.items():
        grouped.setdefault(str(moment), []).append(key)
    for keys in grouped.values():
        keys.sort()  # the canonical order within a time (the times are sorted as the text is written)
    return grouped


def _known_of(data: JsonObject, start: datetime) -> KnownIds:
    """The remembered ids of a stored cursor. The earlier form (two generations, no times) held the
    ids at the previous window's edge, which is where the cursor starts: they are timed there."""
    known = data.get("known")
    if isinstance(known, dict):
        return KnownIds.of({str(key): int(moment) for moment, keys in known.items() for key in keys})
    older = (*data.get("knownPrevious", ()), *data.get("knownCurrent", ()))
    return KnownIds.of(dict.fromkeys(older, int(start.timestamp())))


def cursor_from_json(data: JsonObject) -> Cursor:
    """The inverse of `cursor_to_json`; raises KeyError or ValueError on a malformed form."""
    if data["kind"] == "window":
        start = _parse_time(data["start"])
        if start is None:
            raise ValueError("a window cursor needs a start")
        return WindowCursor(
            start=start,
            end=_parse_time(data.get("end")),
            page_token=data.get("pageToken"),
            tokens_seen=tuple(data.get("tokensSeen", ())),
            known=_known_of(data, start),
            last_page=frozenset(data.get("lastPage", ())),
            until=_parse_time(data.get("until")),
            since=_parse_time(data.get("since")),
            edge=_parse_time(data.get("edge")),
            read_to=_parse_time(data.get("readTo")),
            run=int(data.get("run", 0)),
        )
    if data["kind"] == "batch":
        start_date = data.get("startDate")
        return BatchCursor(
            token=data.get("token"),
            start_date=date.fromisoformat(start_date) if start_date else None,
            next_token=data.get("nextToken"),
            files=tuple(data.get("files", ())),
            file_index=int(data.get("fileIndex", 0)),
            line=int(data.get("line", 0)),
            caught_up=bool(data.get("caughtUp", False)),
            tokens_seen=tuple(data.get("tokensSeen", ())),
            since=_parse_time(data.get("since")),
            until=_parse_time(data.get("until")),
            handover=_handover_from(data.get("handover")),
            streaming_after=_parse_time(data.get("streamingAfter")),
            run=int(data.get("run", 0)),
        )
    raise ValueError(f"unknown cursor kind {data['kind']!r}")


# Management: what an operator configures. The client secret is never part of these values.

FieldValue = str | bool | int | float


def _fields_json(fields: tuple[tuple[str, FieldValue], ...]) -> JsonObject:
    return dict(fields)


def _fields_from(data: Any) -> tuple[tuple[str, FieldValue], ...]:
    return tuple((str(name), value) for name, value in (data or {}).items())


@dataclass(frozen=True)
class ProcessingRule:
    """One processing rule of a source (`filters`): Include, Exclude, Mask or Hash by a regexp."""

    name: str
    filter_type: str
    regexp: str
    mask: str | None = None

    def to_json(self) -> JsonObject:
        rule: JsonObject = {"name": self.name, "filterType": self.filter_type, "regexp": self.regexp}
        if self.mask is not None:
            rule["mask"] = self.mask
        return rule

    @classmethod
    def from_json(cls, data: JsonObject) -> ProcessingRule:
        return cls(
            name=data["name"], filter_type=data["filterType"], regexp=data["regexp"], mask=data.get("mask")
        )


class SiemMode(StrEnum):
    """How a source reads SIEM logs (`siemMode`): the trade-offs are in the README, the switching
    between them in `core.engine.siem_mode`."""

    BATCH = "batch"  # batch files: 7 days' reach, published 10-20 minutes after their period
    STREAMING = "streaming"  # the streaming endpoint: about a minute fresh, 24 hours' reach, a quota
    AUTO = "auto"  # batch files for what is older than the streaming reach, streaming after


@dataclass(frozen=True)
class SourceConfig:
    """A Mimecast source's `config`, validated, without its client secret (stored apart, encrypted)."""

    name: str
    client_id: str
    data_collection: tuple[str, ...]
    description: str | None = None
    category: str | None = None
    fields: tuple[tuple[str, FieldValue], ...] = ()
    filters: tuple[ProcessingRule, ...] = ()
    # How far back a new stream starts: an ISO 8601 time or a duration such as `7d`, as given
    # (read by `core.mimecast.windows.collect_start`); None for each collection's own lookback.
    collect_from: str | None = None
    siem_mode: SiemMode = SiemMode.AUTO

    @property
    def siem_forward(self) -> bool:
        return dict(self.fields).get("_siemForward") is True

    def to_json(self) -> JsonObject:
        """The config as the API shows it, less `clientSecret` (the caller adds the mask)."""
        config: JsonObject = {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "fields": _fields_json(self.fields),
            "clientID": self.client_id,
            "dataCollection": list(self.data_collection),
            "siemMode": self.siem_mode.value,
        }
        if self.filters:
            config["filters"] = [rule.to_json() for rule in self.filters]
        if self.collect_from is not None:
            config["collectFrom"] = self.collect_from
        return config

    @classmethod
    def from_json(cls, data: JsonObject) -> SourceConfig:
        return cls(
            name=data["name"],
            client_id=data["clientID"],
            data_collection=tuple(data["dataCollection"]),
            description=data.get("description"),
            category=data.get("category"),
            fields=_fields_from(data.get("fields")),
            filters=tuple(ProcessingRule.from_json(rule) for rule in data.get("filters") or ()),
            collect_from=data.get("collectFrom"),
            siem_mode=SiemMode(data.get("siemMode") or SiemMode.AUTO.value),
        )


@dataclass(frozen=True)
class CollectorConfig:
    """A hosted collector's modifiable parts."""

    name: str
    description: str | None = None
    category: str | None = None
    fields: tuple[tuple[str, FieldValue], ...] = ()
    time_zone: str | None = None
    # Names of the destinations its batches go to; empty: the deployment's default (SINK_URL).
    destinations: tuple[str, ...] = ()

    def to_json(self) -> JsonObject:
        shown: JsonObject = {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "fields": _fields_json(self.fields),
            "timeZone": self.time_zone,
        }
        if self.destinations:
            shown["destinations"] = list(self.destinations)
        return shown

    @classmethod
    def from_json(cls, data: JsonObject) -> CollectorConfig:
        return cls(
            name=data["name"],
            description=data.get("description"),
            category=data.get("category"),
            fields=_fields_from(data.get("fields")),
            time_zone=data.get("timeZone"),
            destinations=tuple(data.get("destinations") or ()),
        )


def cursor_text(cursor: Cursor) -> str:
    """The stored text of a cursor: compact, key-sorted JSON, so a cursor always gives the same text."""
    return json.dumps(cursor_to_json(cursor), separators=(",", ":"), sort_keys=True)


def cursor_of_text(text: str) -> Cursor:
    """The inverse of `cursor_text`; `UnreadableCheckpoint` for any text it did not write."""
    try:
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise TypeError("not a JSON object")
        return cursor_from_json(parsed)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        detail = f"missing {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise UnreadableCheckpoint(
            f"the stored checkpoint cannot be read ({detail}); reset the collection "
            "(action/reset) to collect again from a chosen time"
        ) from None
