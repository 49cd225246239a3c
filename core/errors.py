"""The one error hierarchy. Every error knows its type, whether to retry, and what to show.

The three types are the ones a source reports in its state and health events
(`spec/management-api.md`, "Error types and retries"). The retry policy reads only
`error_type`, `retryable` and `counts_as_failure`; nothing else needs to look at the class.
`summary` is short and safe for an operator: it never holds a secret, a token or a signed URL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorType(StrEnum):
    """The error types of the product contract; the values are the names it shows."""

    THIRD_PARTY_CONFIG = "ThirdPartyConfig"
    THIRD_PARTY_GENERIC = "ThirdPartyGeneric"
    FIRST_PARTY_GENERIC = "FirstPartyGeneric"


class Refusal(Exception):
    """A write refused because a race was lost (a stale version, epoch or state, a record gone).

    Not a `SourceError`: the loser of a race steps aside, and a refusal never counts as a failure,
    never halts a source and never opens a health event.
    """


class SourceError(Exception):
    """Root of every error a source can fail with: the retry policy and health events read it."""

    error_type: ClassVar[ErrorType] = ErrorType.FIRST_PARTY_GENERIC
    retryable: ClassVar[bool] = True
    counts_as_failure: ClassVar[bool] = True
    # Whether the error is about the whole source (its credentials), not the collection that met it.
    source_wide: ClassVar[bool] = False

    def __init__(self, summary: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.status = status
        self.code = code

    @property
    def health_event_name(self) -> str:
        """The health event this error opens, e.g. `ThirdPartyConfigError`."""
        return f"{self.error_type.value}Error"

    def __str__(self) -> str:
        head = f"{self.error_type.value}"
        if self.status is not None:
            head += f" {self.status}"
        return f"{head}: {self.summary}"


class ThirdPartyConfigError(SourceError):
    """Mimecast refused the configuration: bad credentials, missing permission, unlicensed product.

    Not retried until the source is updated or restarted.
    """

    error_type = ErrorType.THIRD_PARTY_CONFIG
    retryable = False


class CredentialsRejected(ThirdPartyConfigError):
    """Mimecast refused the client id and secret themselves: every collection of the source halts,
    not only the one that met it."""

    source_wide = True


class ThirdPartyGenericError(SourceError):
    """Trouble talking to Mimecast: 5xx, timeouts, network, unreadable or rejected answers."""

    error_type = ErrorType.THIRD_PARTY_GENERIC


class RateLimited(ThirdPartyGenericError):
    """Mimecast asked us to slow down; waited out, not counted as a failure."""

    counts_as_failure = False

    def __init__(
        self, summary: str, *, wait_seconds: float, status: int | None = 429, code: str | None = None
    ) -> None:
        super().__init__(summary, status=status, code=code)
        self.wait_seconds = wait_seconds


class TokenRejected(ThirdPartyGenericError):
    """A 401 that says the access token expired or failed verification: refresh once and retry."""


class FileGone(ThirdPartyGenericError):
    """A SIEM batch file URL answered 403 or 404: it expired or the object is missing."""


class CorruptFile(ThirdPartyGenericError):
    """A SIEM batch file that arrived whole but cannot be inflated; its remainder is quarantined."""


class RepeatedPageToken(ThirdPartyGenericError):
    """Mimecast handed back a page token we already followed in this window; following it would loop."""


class FirstPartyGenericError(SourceError):
    """Trouble on our own side: Redis, the destination, a bug."""


class UnreadableCheckpoint(FirstPartyGenericError):
    """A stream's stored checkpoint is not a cursor this release can read (edited by hand, restored
    from elsewhere, written by a later release): a reset gives the stream a new one."""
