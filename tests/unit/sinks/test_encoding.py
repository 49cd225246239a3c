"""encoding: what the file and HTTP destinations receive, byte for byte."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from core.sinks.contract import Batch
from core.sinks.encoding import fields_header, http_parts, ndjson_line, request_headers
from tests.unit.sinks.builders import batch, message


def test_a_file_line_is_the_contract_envelope_around_the_raw_record() -> None:
    # Given a SIEM message; When it becomes a file line
    built = batch(1)
    line = ndjson_line(built, built.messages[0])
    # Then it is one line of JSON with the contract's keys in order, the record as an object
    assert line.endswith("\n")
    assert line.count("\n") == 1
    parsed = json.loads(line)
    assert list(parsed) == ["id", "dataCollection", "logType", "metadata", "message"]
    assert parsed["id"] == "siem-000000"
    assert (parsed["dataCollection"], parsed["logType"]) == ("siem", "receipt")
    assert parsed["metadata"]["_siemEventID"] == "receipt"
    assert parsed["message"] == json.loads(built.messages[0].text)


def test_a_file_line_keeps_non_ascii_text_as_utf8() -> None:
    built = batch(1)
    line = ndjson_line(built, message(1, metadata={"_source": "Mimecast é"}))
    assert '"_source":"Mimecast é"' in line


HEADERS = [
    # (sentence, metadata, expected headers)
    (
        "source, category and collector have their own headers; the rest are fields",
        {"_source": "M", "_sourceCategory": "mail", "_collector": "c", "team": "x", "_siemEventID": "av"},
        [
            ("X-Sumo-Name", b"M"),
            ("X-Sumo-Category", b"mail"),
            ("X-Sumo-Host", b"c"),
            ("X-Sumo-Fields", b"team=x,_siemEventID=av"),
        ],
    ),
    (
        "no category, no category header",
        {"_source": "M", "_collector": "c"},
        [("X-Sumo-Name", b"M"), ("X-Sumo-Host", b"c")],
    ),
    (
        "non-ASCII travels as UTF-8",
        {"_source": "Mimecast é", "_collector": "c"},
        [("X-Sumo-Name", "Mimecast é".encode()), ("X-Sumo-Host", b"c")],
    ),
    (
        "control characters are percent-encoded, never a header break",
        {"_source": "a\r\nX-Evil: 1", "_collector": "c"},
        [("X-Sumo-Name", b"a%0D%0AX-Evil: 1"), ("X-Sumo-Host", b"c")],
    ),
]


@pytest.mark.parametrize(("sentence", "metadata", "expected"), HEADERS, ids=[h[0] for h in HEADERS])
def test_metadata_travels_in_x_sumo_headers(
    sentence: str, metadata: dict[str, str], expected: list[tuple[str, bytes]]
) -> None:
    assert request_headers(metadata) == expected


FIELDS = [
    ("plain values as k=v pairs", {"a": "1", "b": "two"}, "a=1,b=two"),
    ("a comma in a value is escaped", {"a": "x,y"}, "a=x%2Cy"),
    ("an equals sign in a value is escaped", {"a": "x=y"}, "a=x%3Dy"),
    ("the escape character itself is escaped", {"a": "50%"}, "a=50%25"),
    (
        "a value cannot smuggle in another field",
        {"team": "a,_siemForward=false"},
        "team=a%2C_siemForward%3Dfalse",
    ),
    ("nothing but built-in headers gives no fields", {"_source": "M"}, ""),
]


@pytest.mark.parametrize(("sentence", "metadata", "expected"), FIELDS, ids=[f[0] for f in FIELDS])
def test_x_sumo_fields_is_unambiguous(sentence: str, metadata: dict[str, str], expected: str) -> None:
    # Given metadata; When it becomes X-Sumo-Fields
    header = fields_header(metadata)
    # Then it reads as written, and splitting on `,` and `=` then percent-decoding gives the values back
    assert header == expected
    decoded = dict(
        (unquote(k), unquote(v)) for k, v in (item.split("=") for item in header.split(",") if item)
    )
    assert decoded == {k: v for k, v in metadata.items() if not k.startswith("_source")}


def test_a_small_batch_is_one_request_that_names_the_batch_and_part() -> None:
    # Given three messages with one metadata set; When split into requests
    parts = http_parts(batch(3, "batch-7"))
    # Then there is one part, numbered 1 of 1, with every message on its own line in order
    assert len(parts) == 1
    headers = dict(parts[0].headers)
    assert (headers["X-Batch-Id"], headers["X-Batch-Part"], headers["X-Batch-Parts"]) == (
        b"batch-7",
        b"1",
        b"1",
    )
    assert parts[0].body.decode().splitlines() == [m.text for m in batch(3).messages]


def test_a_large_batch_is_split_into_requests_under_the_limit_in_order() -> None:
    # Given 300 messages of about 1 KB; When split with a 20 KB limit
    built = batch(300, pad=1000)
    parts = http_parts(built, max_bytes=20_000)
    # Then every body is within the limit, parts are numbered 1..n of n, and the lines keep their order
    assert len(parts) > 10
    assert all(len(part.body) <= 20_000 for part in parts)
    assert [part.number for part in parts] == list(range(1, len(parts) + 1))
    assert {part.total for part in parts} == {len(parts)}
    lines = [line for part in parts for line in part.body.decode().splitlines()]
    assert lines == [m.text for m in built.messages]
    assert sum(part.count for part in parts) == 300


def test_messages_with_different_metadata_go_in_different_requests_in_first_seen_order() -> None:
    # Given interleaved log types (each its own _siemEventID)
    built = batch(6, log_types=("receipt", "av", "receipt", "spam"))
    # When split
    parts = http_parts(built)
    # Then one request per metadata set, in order of first appearance, each keeping its messages' order
    events = [dict(part.headers)["X-Sumo-Fields"].split(b"_siemEventID=")[1] for part in parts]
    assert events == [b"receipt", b"av", b"spam"]
    assert [json.loads(line)["n"] for line in parts[0].body.decode().splitlines()] == [0, 2, 4]


def test_a_message_larger_than_the_limit_travels_alone_rather_than_cut() -> None:
    built = batch(3, pad=5_000)
    parts = http_parts(built, max_bytes=1_000)
    assert [part.count for part in parts] == [1, 1, 1]


def test_an_empty_batch_is_no_request() -> None:
    empty = Batch(id="b", source_id="s", collector="c", source="M", collection="siem", messages=())
    assert http_parts(empty) == []


def test_splitting_is_deterministic_so_a_retry_sends_the_same_parts() -> None:
    first, second = http_parts(batch(50, pad=500), 8_000), http_parts(batch(50, pad=500), 8_000)
    assert [p.digest for p in first] == [p.digest for p in second]
    assert len({p.digest for p in first}) == len(first)
    assert http_parts(batch(50, "other", pad=500), 8_000)[0].digest != first[0].digest
