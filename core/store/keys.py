"""Every Redis key name in one place. Other rooms add theirs here as they arrive."""

from __future__ import annotations

PREFIX = "mimecast-source"


def token(credential: str) -> str:
    """The cached access token of one credential pair (`Credentials.key`), as JSON, expiring with it."""
    return f"{PREFIX}:token:{credential}"


def token_lock(credential: str) -> str:
    """Held by the one process refreshing that credential's token."""
    return f"{PREFIX}:token-lock:{credential}"
