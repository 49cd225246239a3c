"""Opaque page tokens: zlib-compressed JSON in URL-safe base64, like Mimecast's `eNq...` tokens.

A token carries the whole query (route, filters, position), so a request holding only a token is
answered exactly as the request that produced it would continue.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any


class BadToken(ValueError):
    """The token was not made by this simulator for this route."""


def encode(route: str, state: dict[str, Any]) -> str:
    payload = json.dumps({**state, "@route": route}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode().rstrip("=")


def decode(route: str, token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(zlib.decompress(base64.urlsafe_b64decode(padded)))
    except (binascii.Error, zlib.error, ValueError) as error:
        raise BadToken("page token is not valid") from error
    if not isinstance(state, dict) or state.pop("@route", None) != route:
        raise BadToken("page token does not belong to this endpoint")
    return state
