"""errors: every error knows its type, whether to retry, and what is safe to show."""

from __future__ import annotations

import pytest

from core.errors import (
    CorruptFile,
    ErrorType,
    FileGone,
    FirstPartyGenericError,
    RateLimited,
    RepeatedPageToken,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
    TokenRejected,
)

TABLE = [
    (ThirdPartyConfigError, ErrorType.THIRD_PARTY_CONFIG, False, True, "ThirdPartyConfigError"),
    (ThirdPartyGenericError, ErrorType.THIRD_PARTY_GENERIC, True, True, "ThirdPartyGenericError"),
    (TokenRejected, ErrorType.THIRD_PARTY_GENERIC, True, True, "ThirdPartyGenericError"),
    (FileGone, ErrorType.THIRD_PARTY_GENERIC, True, True, "ThirdPartyGenericError"),
    (CorruptFile, ErrorType.THIRD_PARTY_GENERIC, True, True, "ThirdPartyGenericError"),
    (RepeatedPageToken, ErrorType.THIRD_PARTY_GENERIC, True, True, "ThirdPartyGenericError"),
    (FirstPartyGenericError, ErrorType.FIRST_PARTY_GENERIC, True, True, "FirstPartyGenericError"),
]


@pytest.mark.parametrize(("cls", "error_type", "retryable", "counts", "event"), TABLE)
def test_each_class_carries_its_type_retry_rule_and_health_event(
    cls: type[SourceError], error_type: ErrorType, retryable: bool, counts: bool, event: str
) -> None:
    error = cls("summary", status=500)
    assert error.error_type is error_type
    assert error.retryable is retryable
    assert error.counts_as_failure is counts
    assert error.health_event_name == event


def test_rate_limiting_carries_its_wait_and_does_not_count_as_a_failure() -> None:
    error = RateLimited("slow down", wait_seconds=12.5)
    assert isinstance(error, ThirdPartyGenericError)
    assert (error.wait_seconds, error.status, error.counts_as_failure, error.retryable) == (
        12.5,
        429,
        False,
        True,
    )


def test_the_text_of_an_error_is_its_type_status_and_summary() -> None:
    assert str(ThirdPartyConfigError("Client credentials are invalid", status=401)) == (
        "ThirdPartyConfig 401: Client credentials are invalid"
    )
    assert str(FirstPartyGenericError("Redis down")) == "FirstPartyGeneric: Redis down"
