"""classify: one table from (status, headers, body) to the error hierarchy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from core.errors import (
    CredentialsRejected,
    ErrorType,
    FileGone,
    RateLimited,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
    TokenRejected,
)
from core.mimecast.classify import CallKind, classify, json_body, rate_limit_wait, summarize

NOW = 1_717_200_000.0  # 2024-06-01T00:00:00Z


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def gateway_fail(code: str, message: str = "text") -> bytes:
    return body({"fail": [{"code": code, "message": message}]})


OK_ENVELOPE = body({"meta": {"status": 200}, "data": [], "fail": []})

CASES = [
    # kind, status, headers, body, expected class (None: success)
    (CallKind.API, 200, {}, OK_ENVELOPE, None),
    (CallKind.API, 200, {}, body({"value": [], "@nextPage": "x", "isCaughtUp": True}), None),
    (CallKind.API, 200, {}, body({"data": [], "fail": [{"errors": [{"code": "err_validation_blank"}]}]}),
     ThirdPartyGenericError),
    (CallKind.API, 200, {}, body({"fail": [{"code": "app_forbidden", "message": "Forbidden"}]}),
     ThirdPartyConfigError),
    (CallKind.API, 200, {}, b"<html>oops</html>", ThirdPartyGenericError),
    (CallKind.API, 200, {}, b"[1, 2]", ThirdPartyGenericError),
    (CallKind.API, 401, {}, gateway_fail("token_expired"), TokenRejected),
    (CallKind.API, 401, {}, gateway_fail("token_verification_failed"), TokenRejected),
    (CallKind.API, 401, {}, gateway_fail("Unauthorized Request"), TokenRejected),
    (CallKind.API, 401, {}, gateway_fail("unauthorized"), TokenRejected),
    (CallKind.API, 401, {}, b"", TokenRejected),
    (CallKind.API, 401, {}, gateway_fail("InvalidClientIdentifier"), CredentialsRejected),
    (CallKind.API, 403, {}, gateway_fail("app_forbidden"), ThirdPartyConfigError),
    (CallKind.API, 418, {}, b"", ThirdPartyConfigError),
    (CallKind.API, 404, {}, b"not found", ThirdPartyConfigError),
    (CallKind.API, 400, {}, body({"error": {"code": "bad_range", "message": "old"}}), ThirdPartyGenericError),
    (CallKind.API, 429, {"X-RateLimit-Reset": "2000"}, b"", RateLimited),
    (CallKind.API, 500, {}, gateway_fail("internal-error"), ThirdPartyGenericError),
    (CallKind.API, 502, {}, b"<html><title>Bad Gateway</title></html>", ThirdPartyGenericError),
    (CallKind.API, 509, {}, b"", ThirdPartyGenericError),
    (CallKind.API, 302, {}, b"", ThirdPartyGenericError),
    (CallKind.OAUTH, 200, {}, body({"access_token": "abc", "expires_in": 1799}), None),
    (CallKind.OAUTH, 200, {}, body({"token_type": "Bearer"}), ThirdPartyGenericError),
    (CallKind.OAUTH, 401, {}, gateway_fail("InvalidClientIdentifier", "Client credentials are invalid"),
     CredentialsRejected),
    (CallKind.OAUTH, 400, {}, b"", CredentialsRejected),
    (CallKind.OAUTH, 200, {}, body({"error": "invalid_client"}), ThirdPartyConfigError),
    (CallKind.OAUTH, 503, {}, b"", ThirdPartyGenericError),
    (CallKind.OAUTH, 429, {}, b"", RateLimited),
    (CallKind.FILE, 200, {}, b"\x1f\x8b binary", None),
    (CallKind.FILE, 403, {}, b"<Error><Code>AccessDenied</Code></Error>", FileGone),
    (CallKind.FILE, 404, {}, b"<Error><Code>NoSuchKey</Code></Error>", FileGone),
    (CallKind.FILE, 500, {}, b"", ThirdPartyGenericError),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "status", "headers", "raw", "expected"), CASES)
def test_each_answer_maps_to_exactly_one_error_class(
    kind: CallKind, status: int, headers: dict[str, str], raw: bytes, expected: type[SourceError] | None
) -> None:
    # Given an answer; when it is classified
    error = classify(kind, status, headers, raw, NOW)
    # then it is a success or exactly the expected class, carrying the upstream status
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error is not None
        assert error.status == status


def test_config_errors_are_not_retried_and_generic_ones_are() -> None:
    config = classify(CallKind.API, 403, {}, gateway_fail("app_forbidden"), NOW)
    generic = classify(CallKind.API, 503, {}, b"", NOW)
    assert config is not None
    assert config.error_type is ErrorType.THIRD_PARTY_CONFIG
    assert not config.retryable
    assert generic is not None
    assert generic.error_type is ErrorType.THIRD_PARTY_GENERIC
    assert generic.retryable


def test_rate_limiting_is_generic_but_does_not_count_as_a_failure() -> None:
    error = classify(CallKind.API, 429, {"x-ratelimit-reset": "1500"}, b"", NOW)
    assert isinstance(error, RateLimited)
    assert error.error_type is ErrorType.THIRD_PARTY_GENERIC
    assert error.counts_as_failure is False
    assert error.wait_seconds == 1.5


WAITS = [
    ({"X-RateLimit-Reset": "2500"}, 2.5),  # documented: milliseconds to wait
    ({"X-RateLimit-Reset": "900000"}, 900.0),  # fifteen minutes, still milliseconds
    ({"X-RateLimit-Reset": str(int(NOW + 42))}, 42.0),  # can only be epoch seconds
    ({"X-RateLimit-Reset": str(int((NOW + 7) * 1000))}, 7.0),  # can only be epoch milliseconds
    ({"X-RateLimit-Reset": str(int(NOW - 100))}, 1.0),  # already past: wait the minimum
    ({"Retry-After": "12"}, 12.0),
    ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 20, UTC), usegmt=True)}, 20.0),
    ({"X-RateLimit-Reset": "3000", "Retry-After": "99"}, 3.0),  # the Mimecast header wins
    ({"X-RateLimit-Reset": "soon"}, 30.0),
    ({}, 30.0),
    ({"X-RateLimit-Reset": "86400000"}, 3600.0),  # a day: capped at an hour
]


@pytest.mark.parametrize(("headers", "seconds"), WAITS)
def test_the_wait_after_a_429_comes_from_the_headers(headers: dict[str, str], seconds: float) -> None:
    assert rate_limit_wait(headers, NOW) == pytest.approx(seconds, abs=0.01)


def test_a_summary_names_the_mimecast_code_and_message() -> None:
    raw = gateway_fail("InvalidClientIdentifier", "Client credentials are invalid")
    assert summarize(raw) == "InvalidClientIdentifier: Client credentials are invalid"


def test_a_summary_never_shows_a_token_a_bearer_value_or_a_signed_query() -> None:
    # Given a body that echoes secrets back
    token = "eNqV0j1vwjAQhv9Lp0oMOHYcxwxILWrp0KFqK3VkcS" * 2
    raw = body(
        {
            "fail": [
                {
                    "code": "weird",
                    "message": f"token {token} Bearer abc.def https://b.s3.amazonaws.com/f.gz?X-Amz-Signature=s3cr3t",
                }
            ]
        }
    )
    # When summarized
    text = summarize(raw)
    # Then none of them is shown
    assert token not in text
    assert "abc.def" not in text
    assert "s3cr3t" not in text
    assert "https://b.s3.amazonaws.com/f.gz?[redacted]" in text


def test_a_summary_is_short_and_printable() -> None:
    text = summarize(b"x\x00y " * 500)
    assert len(text) <= 200
    assert text.isprintable()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("r-123", "r-123"),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("5f1c2b0e9a8d4c7b6a5f4e3d2c1b0a99", "5f1c2b0e9a8d4c7b6a5f4e3d2c1b0a99"),
        ("id with spaces\x00", "idwithspaces"),
    ],
)
def test_a_summary_keeps_the_request_id_for_support(given: str, kept: str) -> None:
    assert summarize(gateway_fail("internal-error", "boom"), {"X-Request-Id": given}) == (
        f"internal-error: boom (x-request-id {kept})"
    )


def test_the_fail_list_is_read_in_each_of_its_shapes() -> None:
    nested = body({"fail": [{"key": {"secret": "no"}, "errors": [{"code": "err_x", "message": "m"}]}]})
    siem = body({"error": {"code": "bad_range", "message": "24 h"}})
    assert summarize(nested) == "err_x: m"
    assert "secret" not in summarize(nested)
    assert summarize(siem) == "bad_range: 24 h"


def test_json_body_returns_the_object_of_a_success_and_raises_otherwise() -> None:
    assert json_body(CallKind.API, 200, {}, OK_ENVELOPE, NOW)["fail"] == []
    with pytest.raises(TokenRejected):
        json_body(CallKind.API, 401, {}, gateway_fail("token_expired"), NOW)
