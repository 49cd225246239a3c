"""Client secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation via MultiFernet.

`SECRETS_KEY` holds one or more Fernet keys, comma-separated. The first encrypts; every one
decrypts, so a new key goes first and the old ones stay behind it until every stored secret has
been written again (an update, or `rotate`). The clear secret exists only in the worker's memory
for the token request and in the API's memory while a create or update is being stored.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import FirstPartyGenericError

# What every response shows instead of a stored secret; a PUT that sends it back keeps the secret.
MASK = "********"


class InvalidSecretsKey(ValueError):
    """SECRETS_KEY is missing or one of its keys is not a Fernet key; the message never shows a key."""


class SecretUnreadable(FirstPartyGenericError):
    """A stored secret that none of the configured keys decrypts (the key was changed or dropped)."""


def make_key() -> str:
    """A fresh Fernet key (32 random bytes, URL-safe base64), fit for SECRETS_KEY."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise InvalidSecretsKey("SECRETS_KEY holds no key")
        fernets = []
        for position, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part))
            except (ValueError, TypeError):
                raise InvalidSecretsKey(
                    f"SECRETS_KEY key #{position} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        self._box = MultiFernet(fernets)

    def encrypt(self, plain: str) -> str:
        return self._box.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._box.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                "the stored client secret cannot be decrypted with SECRETS_KEY (was the key changed?)"
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted again with the first key."""
        try:
            return self._box.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretUnreadable("the stored client secret cannot be decrypted with SECRETS_KEY") from None
