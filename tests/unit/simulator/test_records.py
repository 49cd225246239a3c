"""The simulator's record builders: deterministic, realistic, and in the shapes of spec 5.5, 6.2, 7.2, 8.2."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from simulator.records import (
    AUDIT_CATEGORIES,
    DLP_ACTIONS,
    DLP_ROUTES,
    HOLD_ROUTES,
    IMPERSONATION_ACTIONS,
    PROCESS_ACTIONS,
    RECEIPT_ACTIONS,
    SIEM_TYPES,
    URL_ACTIONS,
    audit_event,
    dlp_log,
    held_message,
    siem_message,
    siem_streaming_form,
)

Event = dict[str, Any]
WHEN = "2024-06-01T00:03:14+0000"
COMMON_FIELDS = {"accountId", "aggregateId", "processingId", "type", "subtype"}
# Spec 5.5, per-type fields besides the common ones (copied here on purpose: the test states the contract).
SPEC_FIELDS: dict[str, set[str]] = {
    "receipt": {"action", "direction", "messageId", "numberAttachments", "receiptErrors", "recipients",
        "rejectionCode", "rejectionInfo", "rejectionType", "senderEnvelope", "senderHeader", "senderIp",
        "spamDetectionLevel", "spamInfo", "spamProcessingDetail", "spamScore", "subject", "tlsCipher",
        "tlsVersion", "virusFound"},
    "process": {"action", "attachments", "emailSize", "holdReason", "messageId", "numberAttachments",
        "senderEnvelope", "subject", "totalSizeAttachments"},
    "delivery": {"Hostname", "delivered", "deliveryAttempts", "deliveryErrors", "deliveryTime",
        "destinationIp", "direction", "emailSize", "messageId", "numberAttachments", "recipients",
        "rejectionCode", "rejectionInfo", "rejectionType", "route", "senderEnvelope", "subject", "tlsCipher",
        "tlsUsed", "tlsVersion", "totalSizeAttachments"},
    "journal": {"direction", "recipients", "senderEnvelope"},
    "spam": {"messageId", "recipients", "route", "senderDomain", "senderEnvelope", "senderHeader", "senderIp",
        "subject"},
    "internal email protect": {"messageId", "monitoredDomainSource", "recipients", "route", "scanResults",
        "senderEnvelope", "similarDomain", "subject", "urlCategory"},
    "attachment protect": {"fileExtension", "fileName", "md5", "sha1", "sha256"},
    "av": {"emailSize", "fileExtension", "fileName", "md5", "sha1", "sha256", "messageId", "recipients",
        "route", "senderDomain", "senderDomainInternal", "senderEnvelope", "senderIp", "subject",
        "virusFound"},
    "impersonation protect": {"action", "customNameMatch", "customThreatDictionary", "internalUserName",
        "itemsDetected", "messageId", "mimecastThreatDictionary", "newDomain", "policyDefinition",
        "recipients", "replyMismatch", "route", "senderEnvelope", "senderIp", "similarCustomExternalDomain",
        "similarInternalDomain", "similarMimecastExternalDomain", "subject", "taggedExternal",
        "taggedMalicious"},
    "url protect": {"action", "analysis", "blockReason", "messageId", "recipients", "route", "senderDomain",
        "senderEnvelope", "sourceIp", "subject", "url", "urlCategory"},
}  # fmt: skip
DOC_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")
SYNTHETIC_DOMAIN = re.compile(r"(^|\.)(example\.(com|net|org)|corp\.example)$")


def build_messages(seed: int, count: int) -> list[list[Event]]:
    rng = random.Random(seed)
    return [
        siem_message(rng, account_id="C0A0", aggregate_id=f"agg-{n}", processing_id=f"proc-{n}")
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def messages() -> list[list[Event]]:
    return build_messages(seed=7, count=4000)


@pytest.fixture(scope="module")
def events(messages: list[list[Event]]) -> list[Event]:
    return [event for message in messages for event in message]


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [event for event in events if event["type"] == kind]


# -- determinism ---------------------------------------------------------------------------------------------

RECORD_BUILDERS: dict[str, Callable[[random.Random], Any]] = {
    "siem": lambda rng: siem_message(rng, account_id="C0A0", aggregate_id="agg-1", processing_id="proc-1"),
    "dlp": lambda rng: dlp_log(rng, event_time=WHEN, message_id="<m@mail.example.net>"),
    "audit": lambda rng: audit_event(rng, event_id="eNo1", event_time=WHEN),
    "hold": lambda rng: held_message(rng, hold_id="eNpV1", date_received=WHEN),
}


@pytest.mark.parametrize("builder", RECORD_BUILDERS.values(), ids=RECORD_BUILDERS.keys())
def test_the_same_seed_builds_the_same_records(builder: Callable[[random.Random], Any]) -> None:
    first, second = random.Random(11), random.Random(11)
    assert [builder(first) for _ in range(300)] == [builder(second) for _ in range(300)]


@pytest.mark.parametrize("builder", RECORD_BUILDERS.values(), ids=RECORD_BUILDERS.keys())
def test_a_different_seed_builds_different_records(builder: Callable[[random.Random], Any]) -> None:
    first, second = random.Random(11), random.Random(12)
    assert [builder(first) for _ in range(300)] != [builder(second) for _ in range(300)]


@pytest.mark.parametrize("builder", RECORD_BUILDERS.values(), ids=RECORD_BUILDERS.keys())
def test_builders_leave_the_global_random_state_alone(builder: Callable[[random.Random], Any]) -> None:
    before = random.getstate()
    for _ in range(50):
        builder(random.Random(3))
    assert random.getstate() == before


# -- one message's SIEM events -------------------------------------------------------------------------------


def test_every_siem_type_appears_over_a_few_thousand_messages(events: list[Event]) -> None:
    assert {event["type"] for event in events} == set(SIEM_TYPES)


def test_no_message_has_two_events_of_the_same_type(messages: list[list[Event]]) -> None:
    for message in messages:
        types = [event["type"] for event in message]
        assert len(types) == len(set(types)), types


def test_every_message_opens_with_its_receipt_and_processes_before_it_delivers(
    messages: list[list[Event]],
) -> None:
    for message in messages:
        types = [event["type"] for event in message]
        assert types[0] == "receipt"
        if "delivery" in types:
            assert types.index("process") < types.index("delivery")


def test_only_a_rejected_receipt_stops_a_message_before_processing(messages: list[list[Event]]) -> None:
    stopped = [message for message in messages if len(message) == 1]
    assert stopped, "some receipts should be rejected"
    assert all(message[0]["action"] == "Rej" for message in stopped)
    for message in messages:
        assert len(message) == 1 or any(event["type"] == "process" for event in message)


def test_events_carry_the_ids_they_were_given(messages: list[list[Event]]) -> None:
    for n, message in enumerate(messages):
        for event in message:
            assert (event["accountId"], event["aggregateId"], event["processingId"]) == (
                "C0A0",
                f"agg-{n}",
                f"proc-{n}",
            )


@pytest.mark.parametrize("kind", SIEM_TYPES)
def test_each_type_carries_the_common_and_spec_fields(events: list[Event], kind: str) -> None:
    for event in of_type(events, kind):
        assert COMMON_FIELDS | SPEC_FIELDS[kind] <= event.keys()


def test_the_caller_owned_fields_are_left_for_the_caller(events: list[Event]) -> None:
    assert all({"timestamp", "_offset", "_partition"}.isdisjoint(event) for event in events)


def test_delivery_spells_hostname_with_a_capital_h(events: list[Event]) -> None:
    assert all("Hostname" in event and "hostname" not in event for event in of_type(events, "delivery"))


def test_every_siem_value_is_a_string_or_null(events: list[Event]) -> None:
    for event in events:
        assert all(value is None or isinstance(value, str) for value in event.values()), event


@pytest.mark.parametrize(
    ("kind", "field", "pattern"),
    [
        ("receipt", "numberAttachments", r"\d+"),
        ("process", "emailSize", r"\d+"),
        ("process", "totalSizeAttachments", r"\d+"),
        ("delivery", "delivered", r"true|false"),
        ("delivery", "deliveryAttempts", r"\d+"),
        ("delivery", "deliveryTime", r"\d+"),
        ("delivery", "tlsUsed", r"Yes|No"),
        ("av", "senderDomainInternal", r"true|false"),
        ("attachment protect", "md5", r"[0-9a-f]{32}"),
        ("attachment protect", "sha256", r"[0-9a-f]{64}"),
        ("impersonation protect", "itemsDetected", r"[1-9]\d*"),
        ("impersonation protect", "newDomain", r"true|false"),
    ],
)
def test_numbers_and_booleans_are_spelt_as_strings(
    events: list[Event], kind: str, field: str, pattern: str
) -> None:
    values = [event[field] for event in of_type(events, kind)]
    assert values
    assert [value for value in values if not re.fullmatch(pattern, value)] == []


@pytest.mark.parametrize(
    ("kind", "field", "allowed"),
    [
        ("receipt", "action", RECEIPT_ACTIONS),
        ("process", "action", PROCESS_ACTIONS),
        ("impersonation protect", "action", IMPERSONATION_ACTIONS),
        ("url protect", "action", URL_ACTIONS),
    ],
)
def test_actions_come_from_the_published_sets_and_the_subtype_mirrors_them(
    events: list[Event], kind: str, field: str, allowed: tuple[str, ...]
) -> None:
    for event in of_type(events, kind):
        assert event[field] in allowed
        assert event["subtype"] == event[field]


@pytest.mark.parametrize(
    ("kind", "field"), [("receipt", "spamProcessingDetail"), ("url protect", "analysis")]
)
def test_json_documents_are_serialised_into_strings(events: list[Event], kind: str, field: str) -> None:
    documents = [event[field] for event in of_type(events, kind) if event[field] is not None]
    assert documents
    assert all(isinstance(json.loads(document), dict) for document in documents)


@pytest.mark.parametrize("field", ["messageId", "subject", "senderEnvelope", "recipients"])
def test_all_events_of_a_message_agree_on_its_identity(messages: list[list[Event]], field: str) -> None:
    for message in messages:
        assert len({event[field] for event in message if event.get(field) is not None}) <= 1, message


def test_recipients_is_one_comma_separated_string(events: list[Event]) -> None:
    for event in events:
        if "recipients" in event:
            assert all(re.fullmatch(r"[^@\s,]+@[^@\s,]+", part) for part in event["recipients"].split(","))


def test_addresses_ips_and_message_ids_stay_synthetic(events: list[Event]) -> None:
    for event in events:
        for field in ("senderIp", "destinationIp", "sourceIp"):
            if field in event:
                assert event[field].startswith(DOC_NETS)
        for field in ("senderEnvelope", "recipients"):
            for address in event.get(field, "").split(",") if event.get(field) else ():
                assert SYNTHETIC_DOMAIN.search(address.partition("@")[2]), address
        if event.get("messageId") is not None:
            assert re.fullmatch(r"<[0-9a-f]{16}@mail\.(?!mail\.)[a-z.]+>", event["messageId"])
            assert SYNTHETIC_DOMAIN.search(event["messageId"][1:-1].partition("@")[2])


# -- streaming naming ----------------------------------------------------------------------------------------


def batch_line() -> Event:
    """A batch-file line as captured, built afresh so no test can see another's changes."""
    return {
        "_offset": 106007,
        "_partition": 137,
        "accountId": "C0A0",
        "aggregateId": "agg-7f3c",
        "processingId": "proc-19a2",
        "timestamp": 1717580000123,
        "type": "receipt",
        "subtype": "Acc",
        "action": "Acc",
    }


def test_streaming_form_renames_type_and_subtype_drops_the_coordinates_and_keeps_the_order() -> None:
    assert list(siem_streaming_form(batch_line()).items()) == [
        ("accountId", "C0A0"),
        ("aggregateId", "agg-7f3c"),
        ("processingId", "proc-19a2"),
        ("timestamp", 1717580000123),
        ("eventType", "receipt"),
        ("subType", "Acc"),
        ("action", "Acc"),
    ]


def test_streaming_form_leaves_the_batch_event_untouched() -> None:
    event = batch_line()
    streamed = siem_streaming_form(event)
    assert event == batch_line()
    assert streamed is not event


def test_streaming_form_of_a_built_event_keeps_every_other_field(events: list[Event]) -> None:
    for event in events[:500]:
        streamed = siem_streaming_form(event)
        assert streamed["eventType"] == event["type"]
        assert streamed["subType"] == event["subtype"]
        assert {k: v for k, v in streamed.items() if k not in ("eventType", "subType")} == {
            k: v for k, v in event.items() if k not in ("type", "subtype")
        }


# -- DLP, audit and hold records -----------------------------------------------------------------------------


def test_dlp_records_have_the_spec_fields_and_published_values() -> None:
    rng = random.Random(5)
    logs = [dlp_log(rng, event_time=WHEN, message_id="<m1@mail.corp.example>") for _ in range(500)]
    fields = ["senderAddress", "recipientAddress", "subject", "eventTime", "route", "policy", "action"]
    assert all(list(log) == [*fields, "messageId"] for log in logs)
    assert {log["route"] for log in logs} == set(DLP_ROUTES)
    assert {log["action"] for log in logs} == set(DLP_ACTIONS)
    assert all(log["eventTime"] == WHEN and log["messageId"] == "<m1@mail.corp.example>" for log in logs)
    assert all(isinstance(value, str) for log in logs for value in log.values())


def test_audit_events_have_the_spec_fields_and_a_known_category() -> None:
    rng = random.Random(5)
    audits = [audit_event(rng, event_id=f"eNo{n}", event_time=WHEN) for n in range(500)]
    assert all(list(a) == ["id", "auditType", "user", "eventTime", "eventInfo", "category"] for a in audits)
    assert [a["id"] for a in audits] == [f"eNo{n}" for n in range(500)]
    assert {a["category"] for a in audits} == set(AUDIT_CATEGORIES)
    assert all(a["eventTime"] == WHEN for a in audits)


def test_audit_event_info_differs_by_audit_type_and_logons_follow_the_spec_pattern() -> None:
    rng = random.Random(5)
    audits = [audit_event(rng, event_id="eNo1", event_time=WHEN) for _ in range(500)]
    openings = {a["auditType"]: a["eventInfo"].split(" ", 1)[0] for a in audits}
    assert len(openings) > 2
    assert len(set(openings.values())) > 2
    logons = [a for a in audits if a["auditType"] == "User Logged On"]
    assert logons
    for logon in logons:
        expected = (
            rf"Successful authentication for {re.escape(logon['user'])}, Date: 2024-06-01, "
            r"Time: 00:03:14 GMT, IP: (192\.0\.2|198\.51\.100|203\.0\.113)\.\d+, Application: [^,]+, "
            r"Method: Cloud"
        )
        assert re.fullmatch(expected, logon["eventInfo"]), logon["eventInfo"]


@pytest.fixture(scope="module")
def holds() -> list[Event]:
    rng = random.Random(5)
    return [held_message(rng, hold_id=f"eNpV{n}", date_received=WHEN) for n in range(500)]


def test_held_messages_use_real_json_types(holds: list[Event]) -> None:
    assert all(type(hold["hasAttachments"]) is bool for hold in holds)
    assert all(type(hold["size"]) is int and hold["size"] > 0 for hold in holds)
    assert {hold["hasAttachments"] for hold in holds} == {True, False}


def test_held_message_reason_fields_agree_with_each_other(holds: list[Event]) -> None:
    for hold in holds:
        assert re.fullmatch(r"[A-Z0-9]+(_[A-Z0-9]+)*", hold["reasonId"])
        assert hold["reasonCode"] == hold["reasonId"].lower()
        assert hold["reasonId"] == re.sub(r"[^A-Za-z0-9]+", "_", hold["reason"]).strip("_").upper()


def test_held_messages_carry_the_spec_fields_and_copy_their_arguments(holds: list[Event]) -> None:
    fields = {"id", "reason", "reasonId", "reasonCode", "from", "fromHeader", "to", "subject", "route",
        "hasAttachments", "size", "dateReceived", "policyInfo"}  # fmt: skip
    for n, hold in enumerate(holds):
        assert hold.keys() == fields
        assert (hold["id"], hold["dateReceived"]) == (f"eNpV{n}", WHEN)
        assert hold["route"] in HOLD_ROUTES
        for party in ("from", "fromHeader", "to"):
            assert hold[party].keys() == {"emailAddress", "displayableName"}
        assert hold["from"]["emailAddress"] == hold["fromHeader"]["emailAddress"]
    assert {hold["route"] for hold in holds} == set(HOLD_ROUTES)
