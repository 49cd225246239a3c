"""records: every record gets a stable id for downstream de-duplication."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.mimecast.records import (
    parse_line,
    parse_time,
    record_id,
    record_kind,
    record_time,
    siem_records,
    to_record,
)
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING
from core.models import Quarantined, Record

BATCH_LINE = {
    "_offset": 106007,
    "_partition": 137,
    "accountId": "C0A0",
    "aggregateId": "agg-7f3c",
    "processingId": "proc-19a2",
    "timestamp": 1717580000123,
    "type": "receipt",
    "subtype": "Allow",
    "messageId": "<abc123@mail.example.net>",
}
STREAMED = {
    "accountId": "C0A0",
    "aggregateId": "agg-1",
    "processingId": "proc-1",
    "timestamp": 1717580000123,
    "eventType": "url protect",
    "subType": "Block",
    "messageId": "",
}
DLP_LOG = {
    "senderAddress": "alice@corp.example",
    "recipientAddress": "partner@example.net",
    "subject": "Customer list Q2",
    "eventTime": "2024-06-01T00:03:14+0000",
    "route": "outbound",
    "policy": "Block credit card numbers",
    "action": "block",
    "messageId": "<CAF=abc123@mail.corp.example>",
}


def test_audit_and_hold_records_keep_their_own_id() -> None:
    assert record_id(AUDIT, {"id": "eNoVzt0", "auditType": "x"}) == "eNoVzt0"
    assert record_id(HOLD, {"id": "eNpVzs0", "subject": "y"}) == "eNpVzs0"


def test_a_record_missing_its_id_still_gets_a_stable_one() -> None:
    assert record_id(AUDIT, {"auditType": "x"}) == record_id(AUDIT, {"auditType": "x"})
    assert record_id(AUDIT, {"auditType": "x"}).startswith("auditEvent-")


def test_dlp_records_are_identified_by_a_hash_of_all_their_fields() -> None:
    same = dict(reversed(list(DLP_LOG.items())))
    assert record_id(DLP, DLP_LOG) == record_id(DLP, same)
    assert record_id(DLP, DLP_LOG) != record_id(DLP, {**DLP_LOG, "recipientAddress": "other@example.net"})


def test_siem_batch_lines_are_identified_by_their_partition_and_offset() -> None:
    moved = {**BATCH_LINE, "subject": "a field that does not matter"}
    assert record_id(SIEM_BATCH, BATCH_LINE) == record_id(SIEM_BATCH, moved)
    assert record_id(SIEM_BATCH, BATCH_LINE) != record_id(SIEM_BATCH, {**BATCH_LINE, "_offset": 106008})


def test_siem_events_without_offsets_are_identified_by_a_digest_of_their_text_as_sent() -> None:
    text = json.dumps(STREAMED)
    assert record_id(SIEM_STREAMING, STREAMED, text) == record_id(SIEM_STREAMING, json.loads(text), text)
    assert record_id(SIEM_STREAMING, STREAMED, text) != record_id(SIEM_STREAMING, STREAMED, text + " ")
    assert record_id(SIEM_STREAMING, STREAMED) != record_id(SIEM_STREAMING, {**STREAMED, "timestamp": 1})


def test_events_with_an_empty_message_id_do_not_collide() -> None:
    other = {**STREAMED, "processingId": "proc-2"}
    assert record_id(SIEM_STREAMING, STREAMED) != record_id(SIEM_STREAMING, other)


@pytest.mark.parametrize(
    ("raw", "kind"), [(BATCH_LINE, "receipt"), (STREAMED, "url protect"), ({"timestamp": 1}, "siem")]
)
def test_the_kind_of_a_siem_record_is_its_log_type(raw: dict[str, object], kind: str) -> None:
    assert record_kind(SIEM_BATCH, raw) == kind


def test_other_records_are_of_their_collections_kind() -> None:
    record = to_record(DLP, DLP_LOG)
    assert (record.collection, record.kind, record.raw) == ("dlp", "dlp", DLP_LOG)


TIMES = [
    ("2024-06-01T00:03:14+0000", datetime(2024, 6, 1, 0, 3, 14, tzinfo=UTC)),
    ("2024-06-01T02:03:14+0200", datetime(2024, 6, 1, 0, 3, 14, tzinfo=UTC)),
    ("2024-06-01T00:03:14Z", datetime(2024, 6, 1, 0, 3, 14, tzinfo=UTC)),
    ("2024-06-01T00:03:14.500Z", datetime(2024, 6, 1, 0, 3, 14, 500000, tzinfo=UTC)),
    (1717200194000, datetime(2024, 6, 1, 0, 3, 14, tzinfo=UTC)),
    ("1717200194000", datetime(2024, 6, 1, 0, 3, 14, tzinfo=UTC)),
    ("yesterday", None),
    (None, None),
    (True, None),
]


@pytest.mark.parametrize(("value", "expected"), TIMES)
def test_event_times_are_read_in_each_form_mimecast_writes(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_a_record_time_comes_from_its_specs_field() -> None:
    assert record_time(HOLD, {"dateReceived": "2024-06-01T00:00:00+0000"}) == datetime(2024, 6, 1, tzinfo=UTC)
    assert record_time(SIEM_BATCH, {"timestamp": 1}) is None  # the batch spec reads no time


LINES = [
    (b'{"_offset":1,"_partition":2,"type":"av"}', Record),
    (b"   ", type(None)),
    (b'{"broken', Quarantined),
    (b"[1,2]", Quarantined),
    (b'"\xff\xfe"', Quarantined),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_a_batch_line_is_a_record_a_quarantined_line_or_nothing(line: bytes, expected: type) -> None:
    parsed = parse_line(SIEM_BATCH, "file.gz", 7, line)
    assert isinstance(parsed, expected)
    if isinstance(parsed, Quarantined):
        assert (parsed.source, parsed.position) == ("file.gz", 7)
        assert parsed.reason


SIEM_LINES = [
    b'{"_offset":1,"_partition":2,"type":"av","accountId":"C1"}',
    b'{"_offset":1.5,"_partition":0,"eventType":"receipt"}',  # streaming names, a float offset
    b'{"_offset":7,"_partition":null,"type":"url protect","x":[1,{"type":"inner"}]}',
    b'{"type":"receipt","type":"spam"}',  # a repeated key: the last wins, as in a full parse
    b'{"type":"","eventType":"journal","processingId":"p"}',
    b'{"aggregateId":"a","processingId":"p"}',  # no log type at all
    b'{"type":{"nested":true},"accountId":12}',
    b'  {"type":"av","note":"padded"}  ',
    b'{"type":"av",\r"note":"JSON whitespace a message line cannot hold"}',
    b'{"type":"av","note":"\\ud800 a lone surrogate"}',
    b'{"type":"av","note":"caf\xc3\xa9 \xe2\x9c\x93"}',
    b'{"type":"av","note":"\xff not UTF-8"}',
    b'{"type":"receipt","broken": ',
    b'["type","av"]',
    b"",
]


@pytest.mark.parametrize("line", SIEM_LINES, ids=repr)
def test_a_siem_line_reads_the_same_on_the_quick_path_as_by_a_full_parse(line: bytes) -> None:
    """The quick path (only the fields the id and kind need) gives the record, or the quarantine,
    that parsing the whole line gives: ids cannot change under a page read again."""
    from core.mimecast.records import _parse_any_line

    assert parse_line(SIEM_BATCH, "file.gz", 3, line) == _parse_any_line(SIEM_BATCH, "file.gz", 3, line)


GENERAL_LINES = {
    "coordinates": BATCH_LINE,
    "no account": {**BATCH_LINE, "accountId": None},
    "numeric account": {**BATCH_LINE, "accountId": 12},
    "string coordinates": {**BATCH_LINE, "_partition": "137", "_offset": "106007"},
    "eventType": {**BATCH_LINE, "type": None, "eventType": "url protect"},
    "no type": {k: v for k, v in BATCH_LINE.items() if k != "type"},
    "empty type": {**BATCH_LINE, "type": ""},
    "numeric type": {**BATCH_LINE, "type": 7},
    "no offset": {k: v for k, v in BATCH_LINE.items() if k != "_offset"},
    "streamed": STREAMED,
    "non-ASCII": {**BATCH_LINE, "subject": "caf\u00e9 \u2603"},
}


@pytest.mark.parametrize("name", GENERAL_LINES)
def test_a_batch_file_line_gets_the_id_and_kind_of_the_general_rule(name: str) -> None:
    """`parse_line` computes a SIEM line's id and kind its own (quicker) way: they must stay the
    general rule's (`record_id`, `record_kind`), or the same record would change id."""
    line = GENERAL_LINES[name]
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    parsed = parse_line(SIEM_BATCH, "file", 1, text.encode())
    assert isinstance(parsed, Record)
    assert parsed.id == record_id(SIEM_BATCH, line, text)
    assert parsed.kind == record_kind(SIEM_BATCH, line)
    assert parsed.text == text


@pytest.mark.parametrize("name", GENERAL_LINES)
def test_a_run_of_siem_lines_gets_what_parse_line_gives_each_line(name: str) -> None:
    """`siem_records` makes a run's records in one pass, its own way: a run of one kind of line
    alone, and the same line among plain ones, give what `parse_line` gives each line."""
    plain = [json.dumps({**BATCH_LINE, "_offset": offset}).encode() for offset in (1, 2)]
    odd = json.dumps(GENERAL_LINES[name], ensure_ascii=False, separators=(",", ":")).encode()
    for run in ([odd, odd], [plain[0], odd, plain[1]], plain):
        expected = [parse_line(SIEM_BATCH, "file.gz", 1, line) for line in run]
        assert siem_records(SIEM_BATCH, run) == expected
