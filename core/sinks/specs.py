"""Destination configs as data: each type's fields, which of them are secrets, and their checking.

Pure: no I/O. `check(type, config)` returns the config with defaults filled in, or raises
`InvalidDestination` naming the field (`config.token`, `config.tls.caFile`). `split_secrets` takes
the secret values out of a config (to be encrypted at rest) and `join_secrets` puts them back for a
worker; `masked` is how every response, log line and message shows a config.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JsonConfig = dict[str, Any]

MASK = "********"  # the same mask as a source's clientSecret
TYPES = ("file", "sumo", "splunkHec", "syslog", "s3", "http")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._\-]{0,127}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
_RESERVED_HEADERS = {"content-length", "content-encoding", "host", "transfer-encoding", "idempotency-key"}
FACILITIES = (  # RFC 5424 facility codes, in order from 0
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
)  # fmt: skip


class InvalidDestination(ValueError):
    """A destination config that cannot be used; `field` is the path of the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Field:
    name: str
    kind: Callable[[str, Any], Any]
    required: bool = False
    default: Any = None
    secret: bool = False


def _text(limit: int = 2048) -> Callable[[str, Any], str]:
    def check(path: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidDestination(path, "must be a non-empty string")
        if len(value) > limit or any(ord(char) < 32 for char in value):
            raise InvalidDestination(path, f"must be at most {limit} characters, without control characters")
        return value

    return check


def _url(path: str, value: Any) -> str:
    url = _text()(path, value)
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise InvalidDestination(path, "must be an http(s):// URL with a host")
    return url


def _flag(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidDestination(path, "must be true or false")
    return value


def _port(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidDestination(path, "must be a port number from 1 to 65535")
    return value


def _seconds(path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise InvalidDestination(path, "must be a number of seconds above 0 and at most 3600")
    return float(value)


def _facility(path: str, value: Any) -> str:
    if value not in FACILITIES:
        raise InvalidDestination(path, f"must be one of {', '.join(FACILITIES)}")
    return str(value)


def _app_name(path: str, value: Any) -> str:
    # RFC 5424 APP-NAME: 1*48 PRINTUSASCII (33-126)
    if not isinstance(value, str) or not re.fullmatch(r"[!-~]{1,48}", value):
        raise InvalidDestination(path, "must be 1 to 48 printable ASCII characters without spaces")
    return value


def _prefix(path: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 512 or any(ord(char) < 32 for char in value):
        raise InvalidDestination(path, "must be a string of at most 512 characters")
    return value.strip("/")


def _headers(path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 32:
        raise InvalidDestination(path, "must be an object of at most 32 header names to values")
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            raise InvalidDestination(f"{path}.{name}", "is not a header name this destination may set")
        _text(4096)(f"{path}.{name}", text)
    return dict(value)


FILE = (Field("path", _text(), required=True),)
SUMO = (Field("url", _url, required=True, secret=True),)
SPLUNK = (
    Field("url", _url, required=True),
    Field("token", _text(256), required=True, secret=True),
    Field("index", _text(256)),
    Field("sourcetype", _text(256)),
    Field("source", _text(256)),
    Field("host", _text(256)),
    Field("ack", _flag, default=False),
    Field("ackTimeoutSeconds", _seconds, default=60.0),
    Field("verifyTls", _flag, default=True),
    Field("caFile", _text()),
)
SYSLOG_TLS = (
    Field("caFile", _text()),
    Field("certFile", _text()),
    Field("keyFile", _text()),
    Field("verify", _flag, default=True),
)
SYSLOG = (
    Field("host", _text(255), required=True),
    Field("port", _port, default=6514),
    Field("tls", lambda path, value: value, default=None),  # checked by _syslog_tls
    Field("appName", _app_name, default="mimecast-source"),
    Field("facility", _facility, default="local0"),
    Field("hostname", _app_name, default="-"),
)
S3 = (
    Field("bucket", _text(63), required=True),
    Field("prefix", _prefix, default=""),
    Field("region", _text(64), default="us-east-1"),
    Field("endpointUrl", _url),
    Field("accessKeyId", _text(128)),
    Field("secretAccessKey", _text(256), secret=True),
)
HTTP = (
    Field("url", _url, required=True),
    Field("headers", _headers, default={}),
    Field("gzip", _flag, default=True),
    Field("verifyTls", _flag, default=True),
    Field("caFile", _text()),
)
FIELDS: Mapping[str, tuple[Field, ...]] = {
    "file": FILE,
    "sumo": SUMO,
    "splunkHec": SPLUNK,
    "syslog": SYSLOG,
    "s3": S3,
    "http": HTTP,
}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidDestination(
            "name",
            "must be 1 to 128 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def check(kind: str, config: Any) -> JsonConfig:
    """The config with defaults filled in; InvalidDestination naming the first wrong field."""
    if kind not in FIELDS:
        raise InvalidDestination("type", f"must be one of {', '.join(TYPES)}")
    checked = _fields("config", FIELDS[kind], config)
    if kind == "syslog":
        checked["tls"] = _syslog_tls(checked["tls"])
    for path in secret_paths(kind, checked):
        if _get(checked, path) == MASK:
            raise InvalidDestination(
                "config." + ".".join(path), "send the secret itself: the mask only keeps a stored one"
            )
    if kind == "s3" and (checked["accessKeyId"] is None) != (checked["secretAccessKey"] is None):
        raise InvalidDestination(
            "config.secretAccessKey",
            "accessKeyId and secretAccessKey go together (or neither: default chain)",
        )
    return checked


def _fields(path: str, fields: tuple[Field, ...], config: Any) -> JsonConfig:
    if not isinstance(config, dict):
        raise InvalidDestination(path, "must be an object")
    known = {field.name for field in fields}
    for name in config:
        if name not in known:
            raise InvalidDestination(
                f"{path}.{name}", f"is not a field of this type (known: {', '.join(known)})"
            )
    checked: JsonConfig = {}
    for field in fields:
        value = config.get(field.name)
        if value is None:
            if field.required:
                raise InvalidDestination(f"{path}.{field.name}", "is required")
            checked[field.name] = copy.deepcopy(field.default)
        else:
            checked[field.name] = field.kind(f"{path}.{field.name}", value)
    return checked


def _syslog_tls(value: Any) -> JsonConfig | None:
    """`tls`: false (plain TCP), true (TLS with the system CAs) or an object of TLS options."""
    if value is None or value is True:
        return _fields("config.tls", SYSLOG_TLS, {})
    if value is False:
        return None
    tls = _fields("config.tls", SYSLOG_TLS, value)
    if (tls["certFile"] is None) != (tls["keyFile"] is None):
        raise InvalidDestination("config.tls.keyFile", "certFile and keyFile go together")
    return tls


def secret_paths(kind: str, config: JsonConfig) -> list[tuple[str, ...]]:
    """Where the secrets of a checked config are: each a path of keys."""
    paths: list[tuple[str, ...]] = [(field.name,) for field in FIELDS.get(kind, ()) if field.secret]
    if kind == "http":
        paths += [("headers", name) for name in config.get("headers") or {}]
    return paths


def _get(config: JsonConfig, path: tuple[str, ...]) -> Any:
    node: Any = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set(config: JsonConfig, path: tuple[str, ...], value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def split_secrets(kind: str, config: JsonConfig) -> tuple[JsonConfig, dict[str, str]]:
    """(the config with every secret masked, {"a.b": secret}) of a checked config."""
    shown = copy.deepcopy(config)
    secrets: dict[str, str] = {}
    for path in secret_paths(kind, config):
        value = _get(config, path)
        if value is not None:
            secrets[".".join(path)] = value
            _set(shown, path, MASK)
    return shown, secrets


def join_secrets(config: JsonConfig, secrets: Mapping[str, str]) -> JsonConfig:
    """The masked config with its secrets put back (for the worker's memory only)."""
    joined = copy.deepcopy(config)
    for dotted, value in secrets.items():
        path = tuple(dotted.split("."))
        if _get(joined, path[:-1]) is not None or len(path) == 1:
            _set(joined, path, value)
    return joined


def keep_masked(kind: str, update: Any, stored_secrets: Mapping[str, str]) -> Any:
    """An update's config where each secret sent back as the mask takes the stored secret's value."""
    if not isinstance(update, dict):
        return update
    merged = copy.deepcopy(update)
    for dotted, value in stored_secrets.items():
        path = tuple(dotted.split("."))
        if _get(merged, path) == MASK:
            _set(merged, path, value)
    return merged


def masked(kind: str, config: JsonConfig) -> JsonConfig:
    """The config as anyone may see it."""
    return split_secrets(kind, config)[0]
