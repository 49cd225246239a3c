"""HTTP Basic authentication with access ids and keys, checked in constant time.

The admin credential comes from settings (`API_ACCESS_ID`, `API_ACCESS_KEY`); more keys are made
with `mimecast-source access-key create` and stored as digests. Nothing here logs a key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic

from api.context import Ctx
from api.errors import ApiError
from core.store.access import same_secret

REALM = "mimecast-source"
# Declares the scheme in the OpenAPI document; the header is read and checked below.
scheme = HTTPBasic(auto_error=False, realm=REALM, description="An access id and access key.")
_CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}"'}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def _credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise _unauthorized("credentials required: HTTP Basic with an access id and access key")
    kind, _, encoded = header.partition(" ")
    if kind.lower() != "basic" or not encoded:
        raise _unauthorized("HTTP Basic authentication required")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _unauthorized("malformed Basic credentials") from None
    access_id, colon, key = decoded.partition(":")
    if not colon:
        raise _unauthorized("malformed Basic credentials")
    return access_id, key


def authenticated(context: Ctx, request: Request, _: Annotated[object, Depends(scheme)]) -> str:
    """The caller's access id; 401 unless the id and key match the admin's or a stored key."""
    access_id, key = _credentials(request.headers.get("authorization"))
    if context.admin is not None:
        admin_id, admin_key = context.admin
        # `&`, not `and`: both comparisons always run.
        if same_secret(access_id, admin_id) & same_secret(key, admin_key):
            return access_id
    if len(access_id) <= 64 and len(key) <= 256 and context.access.verify(access_id, key):
        return access_id
    raise _unauthorized("invalid access id or access key")
