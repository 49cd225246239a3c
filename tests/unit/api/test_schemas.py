"""Source and collector bodies: the product reference's JSON as it is, and what a PUT may leave out."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from api.errors import validation_message
from api.schemas import FieldRequest, SourceRequest, SourceUpdateRequest
from core.models import ProcessingRule
from core.store.secrets import MASK
from tests.support.product_example import PRODUCT_EXAMPLE


def example() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(PRODUCT_EXAMPLE)
    return parsed


def rejected(model: type[SourceRequest], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(json.dumps(body))
    return validation_message(refused.value.errors())


def test_the_product_reference_example_is_accepted_verbatim() -> None:
    request = SourceRequest.model_validate_json(PRODUCT_EXAMPLE)
    config = request.source.config.to_config()

    assert config.name == "Mimecast"
    assert config.client_id == "XXXgXXXXXXXxfkNsaXXXXo8VqkXXXixRf5VlnwcXXXXXchX"
    assert config.data_collection == ("siem", "dlp", "auditEvent", "holdMessageList")
    assert request.source.config.new_secret() == "XXXgXXXXXXXxfkNsaXXXXo8VqkXXXixRf5VlnwcXXXXXchX"
    assert "clientSecret" not in config.to_json()


def test_a_create_needs_the_secret_but_an_update_may_omit_it_or_send_the_mask() -> None:
    body = example()
    del body["source"]["config"]["clientSecret"]
    assert rejected(SourceRequest, body) == "source.config.clientSecret: field required"
    assert SourceUpdateRequest.model_validate(body).source.config.new_secret() is None
    body["source"]["config"]["clientSecret"] = MASK
    assert SourceUpdateRequest.model_validate(body).source.config.new_secret() is None
    body["source"]["config"]["clientSecret"] = "a-new-secret"
    assert SourceUpdateRequest.model_validate(body).source.config.new_secret() == "a-new-secret"


def test_schema_ref_and_source_type_are_fixed_on_create_and_not_modifiable_on_update() -> None:
    body = example()
    body["source"]["sourceType"] = "HTTP"
    assert "must be 'Universal'" in rejected(SourceRequest, body)
    assert "source.sourceType: not modifiable" in rejected(SourceUpdateRequest, body)


def test_a_get_answer_can_be_sent_back_as_an_update() -> None:
    body = example()
    body["source"].update(id="abc", state={"state": "Error"}, droppedFields=["team"])
    body["source"]["config"]["clientSecret"] = MASK
    assert SourceUpdateRequest.model_validate(body).source.id == "abc"


def test_processing_rules_become_rules_and_a_mask_rule_defaults_to_hash_signs() -> None:
    body = example()
    body["source"]["config"]["filters"] = [
        {"name": "drop", "filterType": "Exclude", "regexp": ".*spam.*"},
        {"name": "hide", "filterType": "Mask", "regexp": '.*"senderIP":"([^"]+)".*'},
    ]
    rules = SourceRequest.model_validate(body).source.config.to_config().filters
    assert rules == (
        ProcessingRule("drop", "Exclude", ".*spam.*", None),
        ProcessingRule("hide", "Mask", '.*"senderIP":"([^"]+)".*', "#"),
    )


@pytest.mark.parametrize(
    ("regexp", "problem"),
    [
        ("(unclosed", "does not compile as an RE2 regular expression: missing )"),
        ("(?<=lookbehind)x", "does not compile as an RE2 regular expression"),
        (r"(a)\1", "does not compile as an RE2 regular expression"),
    ],
)
def test_a_rule_that_re2_cannot_compile_is_refused_with_the_reason(regexp: str, problem: str) -> None:
    body = example()
    body["source"]["config"]["filters"] = [{"name": "r", "filterType": "Exclude", "regexp": regexp}]
    assert rejected(SourceRequest, body).startswith(f"source.config.filters[0].regexp: {problem}")


def test_a_single_data_collection_string_is_read_as_a_list_of_one() -> None:
    body = copy.deepcopy(example())
    body["source"]["config"]["dataCollection"] = "dlp"
    assert SourceRequest.model_validate(body).source.config.dataCollection == ["dlp"]


def test_field_schema_names_reserve_the_underscore_for_built_ins() -> None:
    with pytest.raises(ValidationError, match="built-in"):
        FieldRequest.model_validate({"fieldName": "_siemForward"})
    assert FieldRequest.model_validate({"fieldName": "team"}).fieldName == "team"


@pytest.mark.parametrize(
    "asked", ["7d", "12h", "2w", "90m", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00"]
)
def test_collect_from_is_kept_as_given_and_shown_back(asked: str) -> None:
    body = example()
    body["source"]["config"]["collectFrom"] = asked
    config = SourceRequest.model_validate_json(json.dumps(body)).source.config.to_config()
    assert config.collect_from == asked
    assert config.to_json()["collectFrom"] == asked
    assert type(config).from_json(config.to_json()) == config


def test_a_source_without_collect_from_shows_no_such_key() -> None:
    config = SourceRequest.model_validate_json(PRODUCT_EXAMPLE).source.config.to_config()
    assert config.collect_from is None
    assert "collectFrom" not in config.to_json()


@pytest.mark.parametrize("mode", ["batch", "streaming", "auto"])
def test_siem_mode_is_kept_and_shown_back(mode: str) -> None:
    body = example()
    body["source"]["config"]["siemMode"] = mode
    config = SourceRequest.model_validate_json(json.dumps(body)).source.config.to_config()
    assert config.siem_mode.value == mode
    assert config.to_json()["siemMode"] == mode
    assert type(config).from_json(config.to_json()) == config


def test_siem_mode_defaults_to_auto_also_for_a_source_stored_before_it_existed() -> None:
    config = SourceRequest.model_validate_json(PRODUCT_EXAMPLE).source.config.to_config()
    assert config.siem_mode.value == "auto"
    stored = config.to_json()
    del stored["siemMode"]
    assert type(config).from_json(stored).siem_mode.value == "auto"


@pytest.mark.parametrize(
    ("key", "value"), [("siemMode", "fast"), ("siemMode", "Batch"), ("siemStreaming", True)]
)
def test_a_bad_siem_mode_and_the_old_streaming_flag_are_refused(key: str, value: object) -> None:
    body = example()
    body["source"]["config"][key] = value
    with pytest.raises(ValidationError, match=key):
        SourceRequest.model_validate_json(json.dumps(body))


def test_every_collection_of_the_more_logs_is_an_allowed_data_collection_value() -> None:
    body = example()
    more = ["ttpUrl", "ttpAttachment", "ttpImpersonation", "archiveSearch", "holdReleaseLog"]
    more += ["cloudIntegrated", "threatIntelCustomer", "threatIntelGrid"]
    body["source"]["config"]["dataCollection"] = more
    config = SourceRequest.model_validate(body).source.config.to_config()
    assert config.data_collection == tuple(more)
