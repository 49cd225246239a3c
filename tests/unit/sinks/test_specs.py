"""Destination configs: defaults, refusals naming the field, and secrets kept apart and masked."""

from __future__ import annotations

from typing import Any

import pytest

from core.sinks.specs import MASK, InvalidDestination, check, join_secrets, keep_masked, masked, split_secrets


def test_defaults_are_filled_in_and_tls_verification_is_on_by_default() -> None:
    hec = check("splunkHec", {"url": "https://splunk:8088", "token": "t"})
    assert (hec["verifyTls"], hec["ack"], hec["ackTimeoutSeconds"]) == (True, False, 60.0)
    syslog = check("syslog", {"host": "siem"})
    assert (syslog["port"], syslog["facility"], syslog["appName"]) == (6514, "local0", "mimecast-source")
    assert syslog["tls"] == {"caFile": None, "certFile": None, "keyFile": None, "verify": True}
    assert check("syslog", {"host": "siem", "tls": False})["tls"] is None
    assert check("http", {"url": "https://x"})["gzip"] is True
    assert check("s3", {"bucket": "b", "prefix": "/a/b/"})["prefix"] == "a/b"


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("file", {}, "config.path"),
        ("sumo", {"url": "file:///etc"}, "config.url"),
        ("splunkHec", {"url": "https://s", "token": "t", "ack": "yes"}, "config.ack"),
        ("syslog", {"host": "h", "appName": "has space"}, "config.appName"),
        ("syslog", {"host": "h", "tls": {"certFile": "/c"}}, "config.tls.keyFile"),
        ("syslog", {"host": "h", "tls": {"ca": "/c"}}, "config.tls.ca"),
        ("s3", {"bucket": "b", "secretAccessKey": "s"}, "config.secretAccessKey"),
        ("http", {"url": "https://x", "headers": {"Idempotency-Key": "k"}}, "config.headers.Idempotency-Key"),
        ("http", {"url": "https://x", "headers": {"X-Token": MASK}}, "config.headers.X-Token"),
        ("nope", {}, "type"),
        ("file", [], "config"),
    ],
)
def test_a_wrong_config_names_the_field(kind: str, config: Any, field: str) -> None:
    with pytest.raises(InvalidDestination) as caught:
        check(kind, config)
    assert caught.value.field == field


def test_secrets_are_split_out_masked_and_joined_back() -> None:
    config = check("http", {"url": "https://x", "headers": {"Authorization": "Bearer abc", "X-Team": "mail"}})
    shown, secrets = split_secrets("http", config)
    assert shown["headers"] == {"Authorization": MASK, "X-Team": MASK}
    assert secrets == {"headers.Authorization": "Bearer abc", "headers.X-Team": "mail"}
    assert join_secrets(shown, secrets) == config
    assert masked("splunkHec", check("splunkHec", {"url": "https://s", "token": "t"}))["token"] == MASK
    assert masked("s3", check("s3", {"bucket": "b"}))["secretAccessKey"] is None  # default chain


def test_an_update_sending_the_mask_back_keeps_the_stored_secret_and_a_new_value_replaces_it() -> None:
    stored = {"token": "old"}
    assert keep_masked("splunkHec", {"url": "https://s", "token": MASK}, stored)["token"] == "old"
    assert keep_masked("splunkHec", {"url": "https://s", "token": "new"}, stored)["token"] == "new"
