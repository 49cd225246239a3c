"""The metadata every forwarded message carries (`spec/management-api.md`). Pure: no I/O here.

A source contributes `_source`, `_sourceCategory`, `_collector` and its custom `fields`; a custom
field whose name is not in the fields schema is dropped (names starting with `_` are built in and
always allowed). With `fields._siemForward` true, each message also gets the `_siem*` fields, its
`_siemEventID` named by the record's collection and log type. Every value is a string, because
the destination protocols carry strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType

# SIEM log types as Mimecast names them (`type` or `eventType` of a record) -> `_siemEventID`.
SIEM_EVENT_IDS: Mapping[str, str] = MappingProxyType(
    {
        "receipt": "receipt",
        "process": "process",
        "delivery": "delivery",
        "journal": "jrnl",
        "jrnl": "jrnl",
        "url protect": "ttp",
        "attachment protect": "ttp",
        "impersonation protect": "ttp",
        "internal email protect": "ttp",
        "ttp": "ttp",
        "av": "av",
        "avlog": "av",
        "antivirus": "av",
        "spam": "spam",
    }
)

# The other collections have one event id each.
COLLECTION_EVENT_IDS: Mapping[str, str] = MappingProxyType(
    {
        "dlp": "dlp",
        "auditEvent": "audit",
        "holdMessageList": "hold",
        # The TTP logs are the `ttp` family, as SIEM's TTP log types; the others name their log.
        "ttpUrl": "ttp",
        "ttpAttachment": "ttp",
        "ttpImpersonation": "ttp",
        "archiveSearch": "archive",
        "holdReleaseLog": "release",
        "cloudIntegrated": "ci",
        "threatIntelCustomer": "malware_customer",
        "threatIntelGrid": "malware_grid",
    }
)

SIEM_CONSTANTS: Mapping[str, str] = MappingProxyType(
    {"_siemVendor": "Mimecast", "_siemProduct": "Mimecast", "_siemFormat": "JSON"}
)

# Names we set ourselves; a custom field cannot override them.
RESERVED_NAMES = frozenset(
    name.lower()
    for name in ("_source", "_sourceCategory", "_collector", "_sourceHost", "_sourceName", "_siemEventID")
) | frozenset(name.lower() for name in SIEM_CONSTANTS)

# Letters, digits, `_`, `.`, `-`: safe as a header field name and in `k=v,k=v` lists.
_FIELD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")

NOT_IN_SCHEMA = "not in the fields schema"
RESERVED = "reserved: set by the source itself"
BAD_NAME = "name must be letters, digits, '_', '.' or '-' (at most 255)"
BAD_VALUE = "value must be a string, number or boolean"


def siem_event_id(collection: str, log_type: str) -> str:
    """`_siemEventID` for a record: its SIEM log type's family, or its collection's id.

    An unknown SIEM log type passes through (lower case, trimmed) rather than being labelled as a
    known one: a new Mimecast type must stay visible and routable in the destination.
    """
    if collection == "siem":
        key = " ".join(log_type.replace("-", " ").replace("_", " ").lower().split())
        return SIEM_EVENT_IDS.get(key, key or "siem")
    try:
        return COLLECTION_EVENT_IDS[collection]
    except KeyError:
        raise ValueError(f"unknown data collection {collection!r}") from None


def field_text(value: object) -> str | None:
    """A field value as the destination sees it, or None when it is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


@dataclass(frozen=True)
class SourceMetadata:
    """A source's metadata, built once per batch; `for_record` adds the per-record `_siem*` fields.

    `dropped` maps each custom field that will not be forwarded to the reason, for the API and UI.
    """

    base: Mapping[str, str]
    dropped: Mapping[str, str]
    siem_forward: bool
    _cache: dict[tuple[str, str], Mapping[str, str]] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    @classmethod
    def build(
        cls,
        *,
        name: str,
        category: str | None,
        collector: str,
        fields: Mapping[str, object] | Iterable[tuple[str, object]] = (),
        schema: AbstractSet[str] = frozenset(),
    ) -> SourceMetadata:
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        allowed = {allowed_name.lower() for allowed_name in schema}
        base: dict[str, str] = {"_source": name}
        if category:
            base["_sourceCategory"] = category
        base["_collector"] = collector
        dropped: dict[str, str] = {}
        siem_forward = False
        for key, value in pairs:
            reason = _drop_reason(key, value, allowed)
            if reason is not None:
                dropped[key] = reason
                continue
            text = field_text(value)
            assert text is not None  # _drop_reason checked it
            base[key] = text
            if key == "_siemForward":
                siem_forward = value is True
        return cls(MappingProxyType(base), MappingProxyType(dropped), siem_forward)

    def for_record(self, collection: str, log_type: str) -> Mapping[str, str]:
        """The metadata of one message; equal inputs give the same (shared, read-only) mapping."""
        key = (collection, log_type)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if not self.siem_forward:
            siem_event_id(collection, log_type)  # unknown collections fail the same way either way
            values = self.base
        else:
            extra = {**SIEM_CONSTANTS, "_siemEventID": siem_event_id(collection, log_type)}
            values = MappingProxyType({**self.base, **extra})
        self._cache[key] = values
        return values


def _drop_reason(name: str, value: object, allowed: AbstractSet[str]) -> str | None:
    if not _FIELD_NAME.fullmatch(name):
        return BAD_NAME
    if name.lower() in RESERVED_NAMES:
        return RESERVED
    if not name.startswith("_") and name.lower() not in allowed:
        return NOT_IN_SCHEMA
    if field_text(value) is None:
        return BAD_VALUE
    return None


def build_metadata(
    *,
    name: str,
    category: str | None,
    collector: str,
    fields: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    schema: AbstractSet[str] = frozenset(),
    collection: str,
    log_type: str,
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """One record's metadata and the dropped fields with their reasons: `SourceMetadata` in one call."""
    source = SourceMetadata.build(
        name=name, category=category, collector=collector, fields=fields, schema=schema
    )
    return source.for_record(collection, log_type), source.dropped
