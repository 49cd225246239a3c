"""The error body and its messages: the offending field named, the input never echoed."""

from __future__ import annotations

import re

import pytest

from api.errors import ApiError, error_body, field_path, validation_message
from api.limits import _is_json
from api.views import etag, expected_version


def test_the_error_body_has_status_id_code_and_message() -> None:
    body = error_body(404, "sources.not.found", "source x not found")
    assert set(body) == {"status", "id", "code", "message"}
    assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}", body["id"])


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "source", "config", "clientID"), "source.config.clientID"),
        (("body", "source", "config", "filters", 2, "regexp"), "source.config.filters[2].regexp"),
        (("query", "limit"), "limit"),
        (("body",), "body"),
    ],
)
def test_field_paths_read_like_the_json(loc: tuple[str | int, ...], path: str) -> None:
    assert field_path(loc) == path


def test_messages_list_each_problem_once_and_never_the_input() -> None:
    errors = [
        {
            "type": "missing",
            "loc": ("body", "source", "config", "name"),
            "msg": "Field required",
            "input": {},
        },
        {"type": "string_type", "loc": ("body", "source", "config", "clientSecret"), "input": 12345},
        {"type": "missing", "loc": ("body", "source", "config", "name"), "msg": "Field required"},
    ]
    message = validation_message(errors)
    assert message == "source.config.name: field required; source.config.clientSecret: must be a string"
    assert "12345" not in message


def test_long_lists_of_problems_are_cut() -> None:
    errors = [{"type": "missing", "loc": ("body", f"f{index}")} for index in range(8)]
    assert validation_message(errors).endswith("; and 3 more")


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON;charset=UTF-8", True),
        ("application/merge-patch+json", True),
        ("application/json; charset=latin-1", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
    ],
)
def test_only_utf8_json_bodies_are_read(content_type: str, json: bool) -> None:
    assert _is_json(content_type) is json


def test_if_match_accepts_the_current_etag_weak_or_strong_or_a_star() -> None:
    current = etag("source", "s1", 3)
    assert expected_version(current, "source", "s1", 3) == 3
    assert expected_version(f"W/{current}", "source", "s1", 3) == 3
    assert expected_version(f'"other", {current}', "source", "s1", 3) == 3
    assert expected_version("*", "source", "s1", 3) is None
    assert expected_version(None, "source", "s1", 3) is None


def test_a_stale_if_match_is_a_412() -> None:
    with pytest.raises(ApiError) as refused:
        expected_version(etag("source", "s1", 2), "source", "s1", 3)
    assert refused.value.status == 412


def test_etags_differ_per_resource_and_version() -> None:
    tags = {
        etag(kind, rid, version)
        for kind in ("source", "collector")
        for rid in ("a", "b")
        for version in (1, 2)
    }
    assert len(tags) == 8
