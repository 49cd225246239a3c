"""What every destination promises, and the frozen values it receives.

A sink's `write(batch)` returns only once the destination holds the whole batch; it is idempotent
per batch id (writing a batch again does not duplicate what the destination can de-duplicate), and
it raises `FirstPartyGenericError` with the status and a short safe summary when the destination
fails. Pure values here: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from types import MappingProxyType
from typing import Protocol

import msgspec
from msgspec.structs import force_setattr

from core.errors import FirstPartyGenericError
from core.processing.jsontext import one_object_lines

# Batch and source ids name files and directories, so they keep to a safe alphabet.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,199}")


def _check_id(what: str, value: str) -> None:
    if not _SAFE_ID.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be 1-200 of A-Z a-z 0-9 . _ - and not start with . _ -")


class Message(msgspec.Struct, frozen=True, gc=False):
    """One record on its way out: a stable id, its log type, its metadata and its JSON object text.

    A frozen msgspec struct, made once per record of every batch (see `core.models.Record`). It is
    checked as part of its batch (`Batch`), page-wide, not one by one: a check per message cost
    more than building it."""

    id: str
    log_type: str
    metadata: Mapping[str, str]
    text: str

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, log_type={self.log_type!r})"


_TEXT = attrgetter("text")
_METADATA = attrgetter("metadata")


@dataclass(frozen=True)
class Batch:
    """The messages of one page, under a deterministic id: the unit a sink writes exactly once.

    Each message's text must be one JSON object on one line (a sink writes it as it is), and its
    metadata is made read-only (copied into a `MappingProxyType` unless it is one already)."""

    id: str
    source_id: str
    collector: str
    source: str
    collection: str
    messages: tuple[Message, ...]

    def __post_init__(self) -> None:
        _check_id("batch id", self.id)
        _check_id("source id", self.source_id)
        _check_id("collection", self.collection)
        _check_messages(self.messages)


def _check_messages(messages: tuple[Message, ...]) -> None:
    """The batch's texts are JSON objects on one line each; metadata is read-only. Cheap guards,
    page-wide and in C (`map`): json.dumps never writes a raw newline."""
    if not messages:
        return
    if not one_object_lines(list(map(_TEXT, messages))):
        bad = next(m for m in messages if not _one_object_line(m.text))
        raise ValueError(f"message {bad.id!r}: text must be one JSON object on one line")
    if not all(map(isinstance, map(_METADATA, messages), repeat(MappingProxyType))):
        for message in messages:
            if not isinstance(message.metadata, MappingProxyType):
                force_setattr(message, "metadata", MappingProxyType(dict(message.metadata)))


def _one_object_line(text: str) -> bool:
    return text.startswith("{") and text.endswith("}") and "\n" not in text and "\r" not in text


class Sink(Protocol):
    """A destination. Implementations: FileSink, HttpSink, MemorySink."""

    def write(self, batch: Batch) -> None:
        """Deliver the batch or raise FirstPartyGenericError; safe to call again with the same batch."""
        ...

    def healthcheck(self) -> None:
        """Raise FirstPartyGenericError when the destination cannot take data now."""
        ...

    def close(self) -> None:
        """Release connections and handles; the sink is not used afterwards."""
        ...


# The `code` of a destination failure, for logs and health events.
UNAVAILABLE = "destination.unavailable"  # 429 or 5xx: try again later
REJECTED = "destination.rejected"  # any other non-2xx status: the destination refuses this request
UNREACHABLE = "destination.unreachable"  # no answer at all: network down, directory unusable
MISCONFIGURED = "destination.misconfigured"  # token refused, TLS verification failed, no such bucket


def status_error(status: int, reason: str = "") -> FirstPartyGenericError | None:
    """The contract's reading of a destination's answer: None for 2xx, else the error to raise.

    429 and 5xx mean "not now" (code `destination.unavailable`); any other status means the
    destination refused the request (`destination.rejected`), e.g. a wrong URL or a revoked token.
    Both are FirstPartyGeneric errors, retried within the contract's 90-minute window.
    """
    if 200 <= status < 300:
        return None
    text = f"HTTP {status} {reason}".rstrip()
    if status == 429 or status >= 500:
        return FirstPartyGenericError(f"destination unavailable: {text}", status=status, code=UNAVAILABLE)
    return FirstPartyGenericError(f"destination rejected the request: {text}", status=status, code=REJECTED)


def unreachable(detail: str) -> FirstPartyGenericError:
    """The destination could not be reached or written at all (network, disk)."""
    return FirstPartyGenericError(f"destination unreachable: {detail}", code=UNREACHABLE)


def unavailable(detail: str) -> FirstPartyGenericError:
    """The destination answered but has not taken the data yet (no status of its own to show)."""
    return FirstPartyGenericError(f"destination unavailable: {detail}", code=UNAVAILABLE)


def misconfigured(detail: str, status: int | None = None) -> FirstPartyGenericError:
    """The destination refuses this deployment's configuration of it; fixing the config fixes it.

    Still a FirstPartyGeneric error (retried in the window, so a corrected token is picked up),
    with a message that says what to fix.
    """
    return FirstPartyGenericError(f"destination misconfigured: {detail}", status=status, code=MISCONFIGURED)
