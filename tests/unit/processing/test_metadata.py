"""metadata: what every forwarded message is tagged with (spec: "Metadata on every forwarded message")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from core.mimecast.records import siem_kind
from core.processing.metadata import (
    BAD_NAME,
    BAD_VALUE,
    NOT_IN_SCHEMA,
    RESERVED,
    SourceMetadata,
    build_metadata,
    siem_event_id,
)

SIEM = {"_siemVendor": "Mimecast", "_siemProduct": "Mimecast", "_siemFormat": "JSON"}


def source(
    fields: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    schema: frozenset[str] = frozenset(),
    category: str | None = "mail",
) -> SourceMetadata:
    return SourceMetadata.build(
        name="Mimecast", category=category, collector="hosted-1", fields=fields, schema=schema
    )


def test_every_message_carries_source_category_and_collector() -> None:
    # Given a source with a category and no fields
    # When a DLP record's metadata is built
    metadata = source().for_record("dlp", "dlp")
    # Then it names the source, its category and its collector, and nothing else
    assert dict(metadata) == {"_source": "Mimecast", "_sourceCategory": "mail", "_collector": "hosted-1"}


def test_a_source_without_category_has_no_source_category_field() -> None:
    assert "_sourceCategory" not in source(category=None).for_record("dlp", "dlp")
    assert "_sourceCategory" not in source(category="").for_record("dlp", "dlp")


CUSTOM_FIELDS = [
    # (sentence, fields, schema, kept, dropped)
    ("a field in the schema is kept", {"team": "mail"}, {"team"}, {"team": "mail"}, {}),
    ("a field not in the schema is dropped", {"team": "mail"}, set(), {}, {"team": NOT_IN_SCHEMA}),
    ("the schema is matched without regard to case", {"Team": "mail"}, {"team"}, {"Team": "mail"}, {}),
    (
        "a built-in name starting with _ is always allowed",
        {"_siemForward": False},
        set(),
        {"_siemForward": "false"},
        {},
    ),
    ("a name we set ourselves cannot be overridden", {"_source": "spoof"}, set(), {}, {"_source": RESERVED}),
    (
        "reserved names are matched without regard to case",
        {"_SIEMVENDOR": "x"},
        set(),
        {},
        {"_SIEMVENDOR": RESERVED},
    ),
    ("a name unusable as a header field is dropped", {"a b": "x"}, {"a b"}, {}, {"a b": BAD_NAME}),
    ("a name with = is dropped", {"a=b": "x"}, {"a=b"}, {}, {"a=b": BAD_NAME}),
    ("a nested value is dropped", {"team": {"a": 1}}, {"team"}, {}, {"team": BAD_VALUE}),
    ("a null value is dropped", {"team": None}, {"team"}, {}, {"team": BAD_VALUE}),
    (
        "numbers and booleans become text",
        {"n": 3, "f": 1.5, "b": True},
        {"n", "f", "b"},
        {"n": "3", "f": "1.5", "b": "true"},
        {},
    ),
]


@pytest.mark.parametrize(
    ("sentence", "fields", "schema", "kept", "dropped"), CUSTOM_FIELDS, ids=[c[0] for c in CUSTOM_FIELDS]
)
def test_custom_fields_pass_the_schema_check(
    sentence: str, fields: dict[str, object], schema: set[str], kept: dict[str, str], dropped: dict[str, str]
) -> None:
    # Given a source with these custom fields and this fields schema
    built = source(fields=fields, schema=frozenset(schema))
    # When a record's metadata is built
    metadata = built.for_record("auditEvent", "auditEvent")
    # Then exactly the allowed fields follow the built-in ones, and the others are reported
    custom = {k: v for k, v in metadata.items() if k not in ("_source", "_sourceCategory", "_collector")}
    assert custom == kept
    assert dict(built.dropped) == dropped


def test_fields_may_come_as_pairs_in_their_configured_order() -> None:
    built = source(fields=(("b", "2"), ("a", "1")), schema=frozenset({"a", "b"}))
    assert list(built.for_record("dlp", "dlp"))[-2:] == ["b", "a"]


SIEM_EVENT_IDS = [
    ("siem", "receipt", "receipt"),
    ("siem", "process", "process"),
    ("siem", "delivery", "delivery"),
    ("siem", "journal", "jrnl"),
    ("siem", "jrnl", "jrnl"),
    ("siem", "url protect", "ttp"),
    ("siem", "attachment protect", "ttp"),
    ("siem", "impersonation protect", "ttp"),
    ("siem", "internal email protect", "ttp"),
    ("siem", "Internal-Email-Protect", "ttp"),
    ("siem", "av", "av"),
    ("siem", "spam", "spam"),
    ("siem", "a new type", "a new type"),
    ("dlp", "dlp", "dlp"),
    ("auditEvent", "auditEvent", "audit"),
    ("holdMessageList", "holdMessageList", "hold"),
]


@pytest.mark.parametrize(("collection", "log_type", "event_id"), SIEM_EVENT_IDS)
def test_siem_forwarding_adds_the_siem_fields_with_the_event_id_of_the_log_type(
    collection: str, log_type: str, event_id: str
) -> None:
    # Given a source with _siemForward true
    built = source(fields={"_siemForward": True})
    # When a record of this collection and log type is tagged
    metadata = built.for_record(collection, log_type)
    # Then it carries the constant _siem* fields and the event id of its log type
    assert {k: metadata[k] for k in (*SIEM, "_siemEventID")} == {**SIEM, "_siemEventID": event_id}
    assert metadata["_siemForward"] == "true"


@pytest.mark.parametrize("flag", [False, "true", 1, None])
def test_only_a_boolean_true_turns_siem_forwarding_on(flag: object) -> None:
    metadata = source(fields={"_siemForward": flag}).for_record("siem", "receipt")
    assert not any(name.startswith("_siemE") or name in SIEM for name in metadata)


@pytest.mark.parametrize("raw", [{"type": "url protect"}, {"eventType": "url protect"}])
def test_the_siem_log_type_is_read_from_type_or_event_type(raw: dict[str, str]) -> None:
    # Given a SIEM record naming its log type either way (batch files vs streaming samples)
    # When its log type feeds the metadata
    metadata = source(fields={"_siemForward": True}).for_record("siem", siem_kind(raw))
    # Then both give the same event id
    assert metadata["_siemEventID"] == "ttp"


def test_an_unknown_collection_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown data collection 'mail'"):
        siem_event_id("mail", "x")
    with pytest.raises(ValueError, match="unknown data collection"):
        source().for_record("mail", "x")


def test_records_of_one_log_type_share_one_read_only_metadata_mapping() -> None:
    built = source(fields={"_siemForward": True})
    first, second = built.for_record("siem", "receipt"), built.for_record("siem", "receipt")
    assert first is second
    with pytest.raises(TypeError):
        first["_source"] = "x"  # type: ignore[index]


def test_build_metadata_gives_one_records_metadata_and_the_dropped_fields_in_one_call() -> None:
    metadata, dropped = build_metadata(
        name="M",
        category=None,
        collector="c",
        fields={"team": "x", "_siemForward": True},
        schema=frozenset(),
        collection="siem",
        log_type="av",
    )
    assert metadata["_siemEventID"] == "av"
    assert dict(dropped) == {"team": NOT_IN_SCHEMA}
