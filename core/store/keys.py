"""Every Redis key name in one place. Other rooms add theirs here as they arrive."""

from __future__ import annotations

PREFIX = "mimecast-source"


def token(credential: str) -> str:
    """The cached access token of one credential pair (`Credentials.key`), as JSON, expiring with it."""
    return f"{PREFIX}:token:{credential}"


def token_lock(credential: str) -> str:
    """Held by the one process refreshing that credential's token."""
    return f"{PREFIX}:token-lock:{credential}"


def due_streams() -> str:
    """Sorted set of stream ids scored by when each is next due (epoch seconds)."""
    return f"{PREFIX}:due"


def lease(stream: str) -> str:
    """Held (`SET NX PX`) by the one worker working on the stream; its value is the holder's token."""
    return f"{PREFIX}:lease:{stream}"


def epoch(stream: str) -> str:
    """Counter incremented on every lease grant; a commit must present the current value."""
    return f"{PREFIX}:epoch:{stream}"


def checkpoint(stream: str) -> str:
    """Hash of the stream's committed cursor, its version and when it was committed."""
    return f"{PREFIX}:checkpoint:{stream}"
