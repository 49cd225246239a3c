"""The fetch -> forward message survives its trip through Celery's JSON unchanged."""

from __future__ import annotations

import json

import pytest

from core.engine.messages import PageMessage
from core.models import Record

MESSAGE = PageMessage(
    unit="s1:siem@f.00000000000000aa",
    lease_token="0123abcd",
    epoch=7,
    version=3,
    start='{"files":["k"],"kind":"batch","line":0}',
    end='{"files":["k"],"kind":"batch","line":2}',
    finished=False,
    complete=False,
    records=(Record("siem-1", "siem", "receipt", '{"a":"é\\n"}'), Record("siem-2", "siem", "av", "{}")),
    quarantined=({"collection": "siem", "where": "k", "position": 3, "reason": "bad", "text": "x"},),
)


def test_a_message_round_trips_through_json() -> None:
    assert PageMessage.from_json(json.loads(json.dumps(MESSAGE.to_json()))) == MESSAGE


def test_a_message_carries_no_secret_only_ids_cursors_and_records() -> None:
    assert set(MESSAGE.to_json()) == {
        "unit", "lease", "version", "start", "end", "finished", "complete", "records", "quarantined"
    }  # fmt: skip


def test_a_malformed_message_is_refused() -> None:
    broken = MESSAGE.to_json()
    del broken["lease"]
    with pytest.raises(KeyError):
        PageMessage.from_json(broken)


def test_a_record_that_is_not_three_strings_is_refused() -> None:
    for bad in ([["siem-1", "receipt"]], [["siem-1", "receipt", 7]]):
        with pytest.raises((TypeError, ValueError)):
            PageMessage.from_json({**MESSAGE.to_json(), "records": bad})


def test_records_travel_as_arrays_of_id_log_type_and_text_and_come_back_in_the_units_collection() -> None:
    wire = json.loads(json.dumps(MESSAGE.to_json()))
    assert wire["records"] == [["siem-1", "receipt", '{"a":"é\\n"}'], ["siem-2", "av", "{}"]]
    assert {record.collection for record in PageMessage.from_json(wire).records} == {"siem"}
