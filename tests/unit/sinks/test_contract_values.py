"""contract: the frozen values a sink receives refuse what would corrupt a destination."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from core.errors import FirstPartyGenericError
from core.sinks.contract import REJECTED, UNAVAILABLE, Batch, Message, status_error
from tests.unit.sinks.builders import batch, message


@pytest.mark.parametrize(
    "text", ['["a"]', '{"a":1}\n{"b":2}', '{"a":"\r"}\r', '{"a":"\r"}', "", "not json", "{", "}"], ids=repr
)
@pytest.mark.parametrize("place", [0, 1, 2])
def test_a_batch_refuses_a_text_that_is_not_one_json_object_on_one_line(text: str, place: int) -> None:
    good = [message(i) for i in range(3)]
    good[place] = Message(id="bad-one", log_type="receipt", metadata={}, text=text)
    with pytest.raises(ValueError, match=r"'bad-one'.*one JSON object on one line"):
        Batch(id="b", source_id="s", collector="c", source="s", collection="siem", messages=tuple(good))


def test_a_batched_message_metadata_is_read_only_and_copied() -> None:
    source = {"_source": "a"}
    built = Message(id="m", log_type="receipt", metadata=source, text="{}")
    Batch(id="b", source_id="s", collector="c", source="s", collection="siem", messages=(message(0), built))
    source["_source"] = "changed"
    assert built.metadata["_source"] == "a"
    with pytest.raises(TypeError):
        built.metadata["_source"] = "b"  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "../etc"),
        ("id", ".hidden"),
        ("id", ""),
        ("id", "a/b"),
        ("source_id", "x y"),
        ("collection", "a\\b"),
        ("id", "a" * 201),
    ],
)
def test_ids_that_name_files_keep_to_a_safe_alphabet(field: str, value: str) -> None:
    values = {"id": "b", "source_id": "s", "collection": "siem"} | {field: value}
    with pytest.raises(ValueError, match="must be 1-200 of"):
        Batch(collector="c", source="s", messages=(), **values)


def test_values_compare_by_content() -> None:
    assert batch() == batch()
    assert message(1) != message(2)


STATUSES = [
    (200, None, None),
    (204, None, None),
    (429, UNAVAILABLE, "destination unavailable"),
    (500, UNAVAILABLE, "destination unavailable"),
    (503, UNAVAILABLE, "destination unavailable"),
    (400, REJECTED, "destination rejected the request"),
    (401, REJECTED, "destination rejected the request"),
    (404, REJECTED, "destination rejected the request"),
    (413, REJECTED, "destination rejected the request"),
    (301, REJECTED, "destination rejected the request"),
]


@pytest.mark.parametrize(("status", "code", "prefix"), STATUSES)
def test_a_destination_status_reads_as_the_contract_says(
    status: int, code: str | None, prefix: str | None
) -> None:
    # Given a destination's answer; When the contract reads it
    phrase = HTTPStatus(status).phrase
    error = status_error(status, phrase)
    # Then 2xx is accepted; 429/5xx are "unavailable"; anything else is "rejected" with its status;
    # both failures are FirstPartyGeneric errors, retried within the contract's window
    if code is None:
        assert error is None
        return
    assert isinstance(error, FirstPartyGenericError)
    summary = f"{prefix}: HTTP {status} {phrase}"
    assert (error.code, error.status, error.summary, error.retryable) == (code, status, summary, True)
    assert error.health_event_name == "FirstPartyGenericError"
