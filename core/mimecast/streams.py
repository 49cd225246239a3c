"""One StreamSpec per Mimecast collection, as data. Pure: no I/O here.

Adding a collection is a new entry here, a simulator route and the shared contract tests.
Values marked "choice" are ours where `spec/mimecast-api.md` is silent or unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any


class Collection(StrEnum):
    """The `dataCollection` values of a source config."""

    SIEM = "siem"
    DLP = "dlp"
    AUDIT = "auditEvent"
    HOLD = "holdMessageList"
    TTP_URL = "ttpUrl"
    TTP_ATTACHMENT = "ttpAttachment"
    TTP_IMPERSONATION = "ttpImpersonation"
    ARCHIVE_SEARCH = "archiveSearch"
    HOLD_RELEASE = "holdReleaseLog"
    CLOUD_INTEGRATED = "cloudIntegrated"
    THREAT_INTEL_CUSTOMER = "threatIntelCustomer"
    THREAT_INTEL_GRID = "threatIntelGrid"


class PagingKind(StrEnum):
    BATCH = "batch"  # /siem/v1/batch/events/cg: listings of gzip NDJSON file URLs
    STREAMING = "streaming"  # /siem/v1/events/cg: value / @nextPage / isCaughtUp
    ENVELOPE = "envelope"  # /api/...: meta.pagination / data / fail
    FEED = "feed"  # the threat-intel feed: a STIX bundle, the next page's token in a response header


class TimeFormat(StrEnum):
    DATE = "date"  # 2024-06-05
    ISO_MS_Z = "iso-ms-z"  # 2024-06-05T10:15:30.000Z
    OFFSET = "offset"  # 2024-06-05T10:15:30+0000
    ISO_Z = "iso-z"  # 2024-06-05T10:15:30Z


class IdRule(StrEnum):
    """How a record's stable id is made."""

    SIEM = "siem"  # from the record's own fields (type/eventType variants accepted)
    FIELD = "field"  # the record's `id_fields` (default: its `id`), joined
    HASH = "hash"  # a hash of all fields (DLP has no id)


class Dedupe(StrEnum):
    """Which ids a stream remembers in its cursor (each by its record's time, forgotten once no
    window can return it), so that Mimecast's repeats and the overlap read again are dropped."""

    NONE = "none"
    # The ids timed inside the overlap the next window reads again: late-indexed records, boundaries.
    WINDOW_EDGE = "window-edge"
    PAGE_OVERLAP = "page-overlap"  # the window edge, plus the previous page's ids (repeated events)
    LISTED = "listed"  # every id listed since the window's start: the hold list is a state list


@dataclass(frozen=True)
class StreamSpec:
    """Everything that differs between collections on the wire."""

    name: str
    collection: Collection
    method: str
    path: str
    paging: PagingKind
    page_size: int
    time_format: TimeFormat
    window_fields: tuple[str, str]
    id_rule: IdRule
    dedupe: Dedupe = Dedupe.NONE
    filters: tuple[tuple[str, Any], ...] = ()
    nested_records: str | None = None
    time_field: str | None = None
    lag: timedelta = timedelta(minutes=5)
    min_window: timedelta = timedelta(minutes=1)
    max_window: timedelta = timedelta(days=1)
    # The next window starts this long before the previous end (see `core.mimecast.windows`).
    overlap: timedelta = timedelta(seconds=1)
    lookback: timedelta = timedelta(days=1)
    max_lookback: timedelta | None = None
    known_cap: int = 50_000
    types: tuple[str, ...] = ()
    id_fields: tuple[str, ...] = ("id",)
    kind_field: str | None = None  # the field naming what a record is (else: the collection)
    next_header: str | None = None  # FEED: the response header that carries the next page's token
    # A backlog longer than the split span is read as sub-windows in parallel (`core.engine.fanout`).
    splits: bool = False
    # `collection.value` as a plain string, read once: an enum's `.value` is a Python-level property,
    # and the records of every page ask for it (measured in process on `paging.step`).
    collection_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "collection_name", self.collection.value)


# The `/api` logs and the feed: windows reach up to the present less a few seconds (clock skew), and
# every new window reads the last ten minutes again, so a record Mimecast indexes up to ten minutes
# late is still read; the ids already handed out are dropped. A deployment's WINDOW_OVERLAP_SECONDS
# replaces the overlap (`windows.tuned`).
LIVE_LAG = timedelta(seconds=5)
LIVE_OVERLAP = timedelta(minutes=10)
# SIEM streaming reads up to the present too, and every window reads the last minute again (the ids
# already handed out dropped), which is what its former one-minute lag waited out. Not the `/api`
# ten minutes: the endpoint's quota (300 calls an hour, partial) pays for every page read again.
STREAMING_OVERLAP = timedelta(minutes=1)

SIEM_TYPES = (
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
)

SIEM_BATCH = StreamSpec(
    name="siem",
    collection=Collection.SIEM,
    method="GET",
    path="/siem/v1/batch/events/cg",
    paging=PagingKind.BATCH,
    page_size=100,
    time_format=TimeFormat.DATE,
    window_fields=("dateRangeStartsAt", "dateRangeEndsAt"),
    id_rule=IdRule.SIEM,
    lookback=timedelta(days=1),
    max_lookback=timedelta(days=7),
    # Choice: ask for every type in one comma-separated list (Azure's production form) rather
    # than omit `type`, whose default set is not documented.
    types=SIEM_TYPES,
)

SIEM_STREAMING = StreamSpec(
    name="siem-streaming",
    collection=Collection.SIEM,
    method="GET",
    path="/siem/v1/events/cg",
    paging=PagingKind.STREAMING,
    page_size=100,
    time_format=TimeFormat.ISO_MS_Z,
    window_fields=("dateRangeStartsAt", "dateRangeEndsAt"),
    id_rule=IdRule.SIEM,
    dedupe=Dedupe.PAGE_OVERLAP,
    time_field="timestamp",
    lag=LIVE_LAG,
    overlap=STREAMING_OVERLAP,
    max_window=timedelta(hours=1),
    lookback=timedelta(hours=1),
    # Mimecast serves 24 h; keep ten minutes' margin so a window opened near the edge is still
    # inside the reach when its last page is read.
    max_lookback=timedelta(hours=23, minutes=50),
)

DLP = StreamSpec(
    name="dlp",
    collection=Collection.DLP,
    method="POST",
    path="/api/dlp/get-logs",
    paging=PagingKind.ENVELOPE,
    page_size=500,
    time_format=TimeFormat.OFFSET,
    window_fields=("from", "to"),
    id_rule=IdRule.HASH,
    dedupe=Dedupe.WINDOW_EDGE,
    filters=(("oldestFirst", True),),
    nested_records="dlpLogs",
    time_field="eventTime",
    lag=LIVE_LAG,
    overlap=LIVE_OVERLAP,
    splits=True,
)

AUDIT = StreamSpec(
    name="auditEvent",
    collection=Collection.AUDIT,
    method="POST",
    path="/api/audit/get-audit-events",
    paging=PagingKind.ENVELOPE,
    page_size=500,
    time_format=TimeFormat.OFFSET,
    window_fields=("startDateTime", "endDateTime"),
    id_rule=IdRule.FIELD,
    dedupe=Dedupe.WINDOW_EDGE,
    time_field="eventTime",
    # Choice: Mimecast keeps audit events "about 60 days" (`spec/mimecast-api.md`, partial
    # confidence). Ask for no more than 59 days back: a day's margin (one window) keeps a window
    # opened at the edge inside the reach, and an older checkpoint is reported as a gap rather
    # than read as an empty (or refused) window.
    max_lookback=timedelta(days=59),
    lag=LIVE_LAG,
    overlap=LIVE_OVERLAP,
    splits=True,
)

HOLD = StreamSpec(
    name="holdMessageList",
    collection=Collection.HOLD,
    method="POST",
    path="/api/gateway/get-hold-message-list",
    paging=PagingKind.ENVELOPE,
    page_size=500,
    time_format=TimeFormat.OFFSET,
    window_fields=("start", "end"),
    id_rule=IdRule.FIELD,
    dedupe=Dedupe.LISTED,
    filters=(("admin", True),),
    time_field="dateReceived",
    lag=LIVE_LAG,
    overlap=LIVE_OVERLAP,
    # Choice: a new source lists what has been held over the last 30 days, in one window: the
    # list is a current-state queue, so wide windows cost little.
    lookback=timedelta(days=30),
    max_window=timedelta(days=31),
)

# The logs of `spec/mimecast-api-more.md`. Window edges are inclusive on these routes (2.1, 11), so
# every one remembers the ids at its window's end; records are nested one level down (1.1).
# Choice: Mimecast keeps URL Protect logs 30 days (confirmed); the reach of the others is not
# documented, so all of them ask for no more than 29 days back (a day's margin, as for audit) and
# report anything older as a gap.
LOG_REACH = timedelta(days=29)


def _log(collection: Collection, path: str, window: tuple[str, str], nested: str, **rest: Any) -> StreamSpec:
    """An `/api` log of `spec/mimecast-api-more.md` sections 2 to 6: paged (and split) like DLP."""
    settings: dict[str, Any] = {
        "id_rule": IdRule.HASH,
        "max_lookback": LOG_REACH,
        "splits": True,
        "lag": LIVE_LAG,
        "overlap": LIVE_OVERLAP,
        **rest,
    }
    return StreamSpec(
        name=collection.value,
        collection=collection,
        method="POST",
        path=path,
        paging=PagingKind.ENVELOPE,
        page_size=500,
        time_format=TimeFormat.OFFSET,
        window_fields=window,
        dedupe=Dedupe.WINDOW_EDGE,
        nested_records=nested,
        **settings,
    )


# TTP logs: oldest first (a newest-first read with a limit lost records for XSOAR, 10.2). The
# `scanResult`/`result` default is unconfirmed (`all` or `malicious`), so `all` is always sent. No
# record id: a hash of the whole record (several clicks share a `messageId`, two attachments of one
# message share `messageId` and `date`: only the whole record tells them apart).
TTP_URL = _log(
    Collection.TTP_URL,
    "/api/ttp/url/get-logs",
    ("from", "to"),
    "clickLogs",
    filters=(("oldestFirst", True), ("route", "all"), ("scanResult", "all")),
    time_field="date",
)
TTP_ATTACHMENT = _log(
    Collection.TTP_ATTACHMENT,
    "/api/ttp/attachment/get-logs",
    ("from", "to"),
    "attachmentLogs",
    filters=(("oldestFirst", True), ("route", "all"), ("result", "all")),
    time_field="date",
)
# Impersonation records carry their own `id` (`MTOKEN:...`); a record without one is hashed.
TTP_IMPERSONATION = _log(
    Collection.TTP_IMPERSONATION,
    "/api/ttp/impersonation/get-logs",
    ("from", "to"),
    "impersonationLogs",
    id_rule=IdRule.FIELD,
    filters=(("oldestFirst", True),),
    time_field="eventTime",
)
# Archive search logs have no id and no order option (newest first): a hash of the whole record.
# Two byte-identical rows cannot be told apart by anyone and come out once.
ARCHIVE_SEARCH = _log(
    Collection.ARCHIVE_SEARCH,
    "/api/archive/get-archive-search-logs",
    ("start", "end"),
    "logs",
    time_field="createTime",
)
# Release logs: `id` is the held message's; whether one message can have several release entries
# is unconfirmed, so the id is `id` with `released`: a second entry is kept, a re-read is not.
HOLD_RELEASE = _log(
    Collection.HOLD_RELEASE,
    "/api/gateway/get-held-release-logs",
    ("start", "end"),
    "heldReleaseLogs",
    id_rule=IdRule.FIELD,
    id_fields=("id", "released"),
    time_field="released",
)

# Cloud Integrated logs: the SIEM batch family (8); records carry Kafka-style `_partition` and
# `_offset`, which give the id as for SIEM. Choice, as for SIEM: every type in one comma-separated
# list (Azure's production form; Elastic asks once per type); 7 days' reach as for SIEM batch.
CLOUD_INTEGRATED = replace(
    SIEM_BATCH,
    name=Collection.CLOUD_INTEGRATED.value,
    collection=Collection.CLOUD_INTEGRATED,
    path="/siem/v1/batch/events/ci",
    types=("entities", "mailflow", "urlclick"),
)


def _feed(collection: Collection, feed_type: str) -> StreamSpec:
    """The threat-intel feed (7): STIX 2.0 bundles by time window, paged by a response header.

    Ids are the STIX object ids (one SHA-256 appears under many indicator ids: distinct records).
    Choice: windows by `created` (the triples' common time); the feed's reach is undocumented and its
    default start is 7 days back, so it asks for no more than 6 days back.
    """
    return StreamSpec(
        name=collection.value,
        collection=collection,
        method="POST",
        path="/api/ttp/threat-intel/get-feed",
        paging=PagingKind.FEED,
        page_size=0,  # the feed chooses its page size
        time_format=TimeFormat.ISO_Z,
        window_fields=("start", "end"),
        id_rule=IdRule.FIELD,
        dedupe=Dedupe.WINDOW_EDGE,
        filters=(("feedType", feed_type), ("fileType", "stix"), ("compress", False)),
        time_field="created",
        lag=LIVE_LAG,
        overlap=LIVE_OVERLAP,
        max_lookback=timedelta(days=6),
        kind_field="type",
        next_header="X-Mc-Threat-Feed-Next-Token",
        splits=True,
    )


THREAT_INTEL_CUSTOMER = _feed(Collection.THREAT_INTEL_CUSTOMER, "malware_customer")
THREAT_INTEL_GRID = _feed(Collection.THREAT_INTEL_GRID, "malware_grid")

STREAMS: dict[str, StreamSpec] = {
    spec.name: spec
    for spec in (
        SIEM_BATCH,
        SIEM_STREAMING,
        DLP,
        AUDIT,
        HOLD,
        TTP_URL,
        TTP_ATTACHMENT,
        TTP_IMPERSONATION,
        ARCHIVE_SEARCH,
        HOLD_RELEASE,
        CLOUD_INTEGRATED,
        THREAT_INTEL_CUSTOMER,
        THREAT_INTEL_GRID,
    )
}


def spec_for(collection: str, *, siem_streaming: bool = False) -> StreamSpec:
    """The spec that collects a `dataCollection` value; SIEM goes through the batch endpoint by default."""
    wanted = Collection(collection)
    if wanted is Collection.SIEM:
        return SIEM_STREAMING if siem_streaming else SIEM_BATCH
    return next(spec for spec in STREAMS.values() if spec.collection is wanted)
