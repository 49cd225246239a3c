"""The one error body of the contract, for every failure the API can give, including the framework's.

`{"status": 400, "id": "ABCDE-FGHIJ-KLMNO", "code": "sources.validation.failed", "message": "..."}`.
Validation messages name the offending field (`source.config.clientID: field required`) and never
repeat a submitted value, except the `dataCollection` value that is not allowed.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.errors import FirstPartyGenericError
from core.lifecycle.states import IllegalTransition
from core.store.outcomes import NameTaken, NotFound, StaleVersion

log = logging.getLogger(__name__)

_ALPHABET = string.ascii_uppercase + string.digits
MAX_LISTED_PROBLEMS = 5


class ApiError(Exception):
    """An answer other than success, raised anywhere in a request."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_id() -> str:
    """A short random id, as the hosted API gives: `XXXXX-XXXXX-XXXXX`."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(3))


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "id": error_id(), "code": code, "message": message}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)


# Pydantic error types -> what the message says (the input is never echoed).
_PHRASES = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
    "json_type": "must be JSON",
}


def field_path(loc: Sequence[str | int]) -> str:
    """`("body", "source", "config", "filters", 0, "regexp")` -> `source.config.filters[0].regexp`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def _phrase(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    if kind in _PHRASES:
        return _PHRASES[kind]
    message = str(error.get("msg", "is not valid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be"):
        message = "must be" + message.removeprefix("Input should be")
    elif message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return message


def validation_message(errors: Sequence[dict[str, Any]]) -> str:
    """Up to five `field: problem` pairs, most specific first as pydantic lists them."""
    seen: list[str] = []
    for error in errors:
        where = field_path(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            position = next((part for part in error.get("loc", ()) if isinstance(part, int)), None)
            where = "body" if position is None else f"body (at character {position})"
        line = f"{where}: {_phrase(error)}"
        if line not in seen:
            seen.append(line)
    shown = "; ".join(seen[:MAX_LISTED_PROBLEMS])
    hidden = len(seen) - MAX_LISTED_PROBLEMS
    return shown + (f"; and {hidden} more" if hidden > 0 else "")


def validation_code(request: Request) -> str:
    path = request.url.path
    for resource in ("healthEvents", "sources", "fields", "collectors"):
        if f"/{resource}" in path:
            return f"{resource.lower()}.validation.failed"
    return "request.validation.failed"


_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (each verb is its own route)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def install(app: FastAPI) -> None:
    """Put every failure, the framework's included, into the contract's shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_code(request), validation_message(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "route.not.found",
            405: "method.not.allowed",
            400: "request.invalid",
            401: "unauthorized",
        }
        messages = {
            404: f"no route {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }
        message = messages.get(exc.status_code, str(exc.detail))
        code = codes.get(exc.status_code, f"http.{exc.status_code}")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, message, headers or None)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        word = str(exc).split(" ", 1)[0]
        code = f"{word}s.not.found" if word in ("collector", "source", "field") else "resource.not.found"
        return error_response(404, code, str(exc))

    @app.exception_handler(NameTaken)
    async def name_taken(request: Request, exc: NameTaken) -> JSONResponse:
        return error_response(409, f"{validation_code(request).split('.')[0]}.name.duplicate", str(exc))

    @app.exception_handler(StaleVersion)
    async def stale(request: Request, exc: StaleVersion) -> JSONResponse:
        return error_response(412, "request.precondition.failed", str(exc))

    @app.exception_handler(IllegalTransition)
    async def illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        return error_response(409, "sources.state.conflict", str(exc))

    @app.exception_handler(FirstPartyGenericError)
    async def unavailable(request: Request, exc: FirstPartyGenericError) -> JSONResponse:
        log.error("store unavailable: %s", exc.summary)
        return error_response(503, "service.unavailable", "the store is unavailable; try again")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(500, "internal.error", "internal error")
