"""What the HTTP-speaking destinations share: a pooled client with TLS verification on by default,
the reading of transport failures (a certificate that fails verification is a configuration
problem, anything else is "unreachable"), and `Retry-After`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from core.errors import FirstPartyGenericError
from core.sinks.contract import misconfigured, status_error, unreachable

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
MAX_WAIT_SECONDS = 10.0  # a Retry-After up to this long is waited out inside one write
ATTEMPTS = 3  # tries of one request answered 429 / 503 with a short Retry-After


def shown(url: str) -> str:
    """`scheme://host[:port]`: enough to recognise a destination, never a token in its path."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    """httpx's `verify`: the system CAs, a CA file, or (only when asked) no verification."""
    if not verify:
        return False
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def client(verify: ssl.SSLContext | bool, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        timeout=DEFAULT_TIMEOUT,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        follow_redirects=False,
        verify=verify,
        headers={"User-Agent": "mimecast-source", **(headers or {})},
    )


def transport_error(name: str, exc: httpx.TransportError) -> FirstPartyGenericError:
    """A failed connection: a TLS verification failure says so; the rest is "unreachable"."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return misconfigured(
                f"{name}: TLS verification failed ({cause.verify_message or 'certificate rejected'}); "
                "set caFile to the CA that signed the server's certificate"
            )
        cause = cause.__cause__ or cause.__context__
    return unreachable(f"{name}: {type(exc).__name__}: {str(exc)[:160]}")


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds a 429 / 503 asks to wait (delta-seconds or an HTTP date), None when it does not say."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def send(
    name: str,
    request: Callable[[], httpx.Response],
    *,
    sleep: Callable[[float], None] = time.sleep,
    refused: Callable[[httpx.Response], FirstPartyGenericError | None] | None = None,
) -> httpx.Response:
    """One request with the destinations' rules: a 429 / 503 whose Retry-After is short is waited
    out and tried again (up to ATTEMPTS); otherwise a non-2xx raises through `refused` (for the
    type's configuration refusals) or the contract's `status_error`.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = request()
        except httpx.TransportError as exc:
            raise transport_error(name, exc) from None
        if response.status_code in (429, 503) and attempt < ATTEMPTS:
            wait = retry_after(response)
            if wait is not None and wait <= MAX_WAIT_SECONDS:
                sleep(wait)
                continue
        if 200 <= response.status_code < 300:
            return response
        error = refused(response) if refused is not None else None
        if error is None:
            error = status_error(response.status_code, response.reason_phrase)
            assert error is not None
            error = FirstPartyGenericError(f"{name}: {error.summary}", status=error.status, code=error.code)
        raise error
    raise AssertionError("unreachable")  # pragma: no cover
