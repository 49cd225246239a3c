"""Secrets at rest: Fernet with rotation; a bad key is named by position, never shown."""

from __future__ import annotations

import pytest

from core.store.secrets import InvalidSecretsKey, SecretBox, SecretUnreadable, make_key


def test_a_secret_round_trips_and_is_not_in_its_ciphertext() -> None:
    box = SecretBox(make_key())
    token = box.encrypt("s3cret-value")
    assert "s3cret-value" not in token
    assert box.decrypt(token) == "s3cret-value"


def test_rotation_new_key_first_old_keys_still_decrypt_and_rotate_re_encrypts() -> None:
    old, new = make_key(), make_key()
    written_before = SecretBox(old).encrypt("value")
    rotating = SecretBox(f"{new}, {old}")
    assert rotating.decrypt(written_before) == "value"
    rotated = rotating.rotate(written_before)
    assert SecretBox(new).decrypt(rotated) == "value"


def test_a_secret_written_under_a_dropped_key_is_unreadable_with_a_clear_error() -> None:
    token = SecretBox(make_key()).encrypt("value")
    with pytest.raises(SecretUnreadable, match="SECRETS_KEY"):
        SecretBox(make_key()).decrypt(token)


VALID_KEY = "ZGV0ZXJtaW5pc3RpYy10ZXN0LWtleS0zMi1ieXRlcyE="


@pytest.mark.parametrize("keys", ["", " , ", "not-a-fernet-key", f"{VALID_KEY},short"])
def test_an_invalid_secrets_key_is_refused_without_showing_it(keys: str) -> None:
    with pytest.raises(InvalidSecretsKey) as refused:
        SecretBox(keys)
    assert "not-a-fernet-key" not in str(refused.value)
    assert "short" not in str(refused.value)
