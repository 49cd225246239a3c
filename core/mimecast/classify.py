"""From an HTTP answer (status, headers, body) to the error hierarchy, in one table. Pure: no I/O.

The table, first match wins (`kind` is what was called: the OAuth token endpoint, an API route, or a
pre-signed batch-file URL):

| answer                                        | error                          |
|-----------------------------------------------|--------------------------------|
| 429, any kind                                 | RateLimited(wait)              |
| 2xx, file                                     | none                           |
| 2xx, body not a JSON object                   | ThirdPartyGeneric              |
| 2xx whose `fail` says only "no results"       | none (no records)              |
| 2xx with a non-empty `fail`                   | as the fail codes say (below)  |
| 2xx token answer without `access_token`       | ThirdPartyGeneric              |
| 400 / 401 / 403, token endpoint               | CredentialsRejected            |
| 403 / 404, file                               | FileGone                       |
| 401 with a token code, or with no code at all | TokenRejected                  |
| 401 (other codes)                             | CredentialsRejected            |
| 403, 418                                      | ThirdPartyConfig               |
| 404, API                                      | ThirdPartyConfig (gateway)     |
| anything else                                 | ThirdPartyGeneric              |

A 401 without a readable code is read as a token problem (refresh once and retry) rather than a
configuration problem: the status alone cannot tell them apart, and the retry costs one call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import orjson

from core.errors import (
    CredentialsRejected,
    FileGone,
    RateLimited,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
    TokenRejected,
)
from core.mimecast.pacing import reset_seconds
from core.models import JsonObject


class CallKind(StrEnum):
    OAUTH = "oauth"
    API = "api"
    FILE = "file"


TOKEN_CODES = frozenset(
    {"token_expired", "token_verification_failed", "unauthorized", "unauthorized_request"}
)
CONFIG_CODE_HINTS = ("forbidden", "permission", "licen", "invalidclient", "invalid_client", "credential")
# "Nothing in this window" as the threat-intel feed says it: a 200 with `fail` (spec-more 7.2).
NO_RESULT_CODES = frozenset({"err_threat_intel_feed_no_result_found"})
NO_RESULT_MESSAGES = frozenset({"no results found for threat intel feed."})
SUMMARY_LIMIT = 200
DEFAULT_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 3600.0

_SECRETISH = re.compile(r"[A-Za-z0-9+/_=.\-]{32,}")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_SPACE = re.compile(r"\s+")
_TITLE = re.compile(r"(?is)<title>(.*?)</title>")
_XML_CODE = re.compile(r"(?s)<Code>(.*?)</Code>")


def safe_text(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Text fit for an operator: signed queries, bearer values and long opaque strings removed."""
    text = _QUERY.sub(r"\1?[redacted]", text)
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _SECRETISH.sub("[redacted]", text)
    text = _SPACE.sub(" ", "".join(ch if ch.isprintable() else " " for ch in text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def failures(parsed: Any) -> list[tuple[str | None, str | None]]:
    """(code, message) pairs of every failure shape Mimecast uses: flat, nested `errors`, SIEM `error`."""
    if not isinstance(parsed, dict):
        return []
    found: list[tuple[str | None, str | None]] = []
    for entry in parsed.get("fail") or []:
        if not isinstance(entry, dict):
            continue
        nested = entry.get("errors")
        for item in nested if isinstance(nested, list) and nested else [entry]:
            if isinstance(item, dict):
                found.append((_str(item.get("code")), _str(item.get("message"))))
    error = parsed.get("error")
    if isinstance(error, dict):
        found.append((_str(error.get("code")), _str(error.get("message"))))
    elif isinstance(error, str):
        found.append((error, _str(parsed.get("error_description"))))
    return found


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _normal(code: str | None) -> str:
    return (code or "").strip().lower().replace(" ", "_").replace("-", "_")


def summarize(body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """A short, safe summary of an answer's body: its failure codes and messages, or its text."""
    return _summary(body, headers, _parse(body))


def _summary(body: bytes, headers: Mapping[str, str] | None, parsed: Any) -> str:
    pairs = failures(parsed)
    if pairs:
        text = "; ".join(": ".join(part for part in pair if part) for pair in pairs[:3])
    elif isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        text = parsed["message"]
    else:
        raw = body[:4096].decode("utf-8", errors="replace")
        title, code = _TITLE.search(raw), _XML_CODE.search(raw)
        text = title.group(1) if title else code.group(1) if code else raw
    request_id = _request_id(_lower(headers or {}).get("x-request-id"))
    summary = safe_text(text) or "empty body"
    return f"{summary} (x-request-id {request_id})" if request_id else summary


def _request_id(value: str | None) -> str | None:
    """The request id, whole: it is for support, not a secret (a UUID would look like one to safe_text)."""
    if not value:
        return None
    kept = "".join(ch for ch in value if ch.isalnum() or ch in "-_.:")[:64]
    return kept or None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds to wait after a 429: `X-RateLimit-Reset` (ms, or an epoch time), then `Retry-After`."""
    lowered = _lower(headers)
    wait: float | None = None
    try:
        reset = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        reset = None
    if reset is not None:
        wait = reset_seconds(reset, now)  # ms to wait, or an epoch time (pacing says which)
    elif "retry-after" in lowered:
        wait = _retry_after(lowered["retry-after"], now)
    if wait is None or wait != wait:  # missing or NaN
        wait = DEFAULT_WAIT_SECONDS
    return min(max(wait, 1.0), MAX_WAIT_SECONDS)


def _retry_after(value: str, now: float) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError):
        return None


def _from_failures(pairs: list[tuple[str | None, str | None]], status: int, summary: str) -> SourceError:
    codes = [_normal(code) for code, _ in pairs]
    first = next((code for code, _ in pairs if code), None)
    if any(code in TOKEN_CODES for code in codes):
        return TokenRejected(summary, status=status, code=first)
    if any(hint in code for code in codes for hint in CONFIG_CODE_HINTS):
        return ThirdPartyConfigError(summary, status=status, code=first)
    return ThirdPartyGenericError(summary, status=status, code=first)


def classify(
    kind: CallKind, status: int, headers: Mapping[str, str], body: bytes, now: float
) -> SourceError | None:
    """The error an answer means, or None when it is a usable success. `now` is epoch seconds."""
    return _read(kind, status, headers, body, now)[0]


def json_body(kind: CallKind, status: int, headers: Mapping[str, str], body: bytes, now: float) -> JsonObject:
    """The JSON object of a successful answer; raises the classified error otherwise."""
    error, parsed = _read(kind, status, headers, body, now)
    if error is not None:
        raise error
    result: JsonObject = parsed
    return result


def _read(
    kind: CallKind, status: int, headers: Mapping[str, str], body: bytes, now: float
) -> tuple[SourceError | None, Any]:
    """The error (or None) and the parsed body: a success is parsed once and never summarized."""
    if kind is CallKind.FILE and 200 <= status < 300:
        return None, None
    parsed = _parse(body)
    if 200 <= status < 300 and isinstance(parsed, dict) and not _failed(parsed):
        if kind is CallKind.OAUTH and not _str(parsed.get("access_token")):
            return ThirdPartyGenericError("token answer without an access_token", status=status), parsed
        return None, parsed
    return _error(kind, status, headers, _summary(body, headers, parsed), parsed, now), parsed


def _failed(parsed: JsonObject) -> bool:
    fail = parsed.get("fail")
    return bool((isinstance(fail, list) and fail and not _no_result(parsed)) or parsed.get("error"))


def _no_result(parsed: JsonObject) -> bool:
    """Every failure is the feed's "no results": an empty answer, not an error."""
    pairs = failures(parsed)
    return bool(pairs) and all(
        _normal(code) in NO_RESULT_CODES or (message or "").strip().lower() in NO_RESULT_MESSAGES
        for code, message in pairs
    )


def _error(
    kind: CallKind, status: int, headers: Mapping[str, str], summary: str, parsed: Any, now: float
) -> SourceError:
    """The table above, for every answer that is not a usable success."""
    pairs = failures(parsed)
    code = next((code for code, _ in pairs if code), None)
    if status == 429:
        return RateLimited(summary, wait_seconds=rate_limit_wait(headers, now), status=status, code=code)
    if 200 <= status < 300:
        if not isinstance(parsed, dict):
            return ThirdPartyGenericError(f"unreadable answer: {summary}", status=status)
        return _from_failures(pairs, status, summary)
    if kind is CallKind.OAUTH and status in (400, 401, 403):
        if not pairs:  # a bare refusal (gravwell's mock answers 400 with no body): say what it means
            summary = f"the token endpoint refused the client id and secret: {summary}"
        return CredentialsRejected(summary, status=status, code=code)
    if kind is CallKind.FILE and status in (403, 404):
        return FileGone(summary, status=status, code=code)
    if status == 401:
        if code is None or _normal(code) in TOKEN_CODES:
            return TokenRejected(summary, status=status, code=code)
        return CredentialsRejected(summary, status=status, code=code)
    if status in (403, 418):
        return ThirdPartyConfigError(summary, status=status, code=code)
    if status == 404 and kind is CallKind.API:
        return ThirdPartyConfigError(f"not found, check the gateway URL: {summary}", status=status, code=code)
    return ThirdPartyGenericError(summary, status=status, code=code)
