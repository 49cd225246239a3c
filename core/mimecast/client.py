"""Thin I/O to Mimecast: one pooled sync httpx client; every answer goes through `classify`.

It decides nothing: one method call sends one request. httpx exceptions become
ThirdPartyGenericError here and nowhere else, with messages cleaned of signed URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from core.clock import Clock
from core.errors import ThirdPartyConfigError, ThirdPartyGenericError
from core.mimecast.classify import CallKind, classify, json_body, safe_text
from core.models import KEPT_HEADERS, AccessToken, Credentials, JsonObject, Request

GATEWAYS = {
    "global": "https://api.services.mimecast.com",
    "us": "https://us-api.services.mimecast.com",
    "uk": "https://uk-api.services.mimecast.com",
}
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)
# Mimecast's documented lifetime (spec 2.2), used when an answer leaves `expires_in` out.
DEFAULT_EXPIRES_IN = 1799.0
ERROR_BODY_LIMIT = 4096
RAW_CHUNK_BYTES = 64 * 1024


def base_url(gateway: str = "global", override: str | None = None) -> str:
    """The API base URL from server settings: a known gateway by name, or an explicit override."""
    if override:
        parts = urlsplit(override)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ThirdPartyConfigError(f"the Mimecast base URL override is not an http(s) URL: {override!r}")
        return override.rstrip("/")
    try:
        return GATEWAYS[gateway]
    except KeyError:
        known = ", ".join(sorted(GATEWAYS))
        raise ThirdPartyConfigError(f"unknown Mimecast gateway {gateway!r}; known: {known}") from None


@contextmanager
def _upstream(what: str) -> Iterator[None]:
    """The one place where httpx exceptions become ours."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ThirdPartyGenericError(f"{what}: timed out ({type(exc).__name__})") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise ThirdPartyGenericError(f"{what}: {type(exc).__name__}: {safe_text(str(exc))}") from None


class MimecastClient:
    """One connection pool to one Mimecast gateway (and the batch-file store)."""

    def __init__(
        self,
        base: str,
        clock: Clock,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "mimecast-source/0.1",
    ) -> None:
        self._base = base.rstrip("/")
        self._clock = clock
        self._http = httpx.Client(
            timeout=timeout,
            limits=limits,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def request_token(self, credentials: Credentials) -> AccessToken:
        """Client-credentials grant: one POST to /oauth/token."""
        form = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "grant_type": "client_credentials",
        }
        with _upstream("token request"):
            response = self._http.post(f"{self._base}/oauth/token", data=form)
        body = json_body(
            CallKind.OAUTH, response.status_code, response.headers, response.content, self._now()
        )
        expires_in = body.get("expires_in")
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float) and expires_in > 0
            else DEFAULT_EXPIRES_IN
        )
        return AccessToken(value=str(body["access_token"]), expires_at=self._now() + lifetime)

    def call(self, request: Request, token: str) -> JsonObject:
        """One API request with a bearer token; the JSON object of a success, or the classified error."""
        with _upstream(f"{request.method} {request.path}"):
            response = self._http.request(
                request.method,
                f"{self._base}{request.path}",
                params=list(request.params) or None,
                json=request.body,
                headers={"Authorization": f"Bearer {token}"},
            )
        body = json_body(CallKind.API, response.status_code, response.headers, response.content, self._now())
        if request.keep_headers:
            found = response.headers
            body[KEPT_HEADERS] = {name.lower(): found[name] for name in request.keep_headers if name in found}
        return body

    @contextmanager
    def open_file(self, url: str) -> Iterator[Iterator[bytes]]:
        """The raw bytes of a pre-signed batch file, streamed; sent without the Authorization header."""
        host = urlsplit(url).netloc
        with _upstream(f"batch file on {host}"):
            request = self._http.build_request("GET", url)
            request.headers.pop("Authorization", None)
            response = self._http.send(request, stream=True, follow_redirects=True)
        try:
            if not 200 <= response.status_code < 300:
                with _upstream(f"batch file on {host}"):
                    head = _read_head(response)
                error = classify(CallKind.FILE, response.status_code, response.headers, head, self._now())
                if error is not None:
                    raise error
            yield _raw(response, host)
        finally:
            response.close()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MimecastClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _read_head(response: httpx.Response) -> bytes:
    if response.is_stream_consumed:  # a transport that already read the body
        return response.content[:ERROR_BODY_LIMIT]
    head = b""
    for block in response.iter_raw(ERROR_BODY_LIMIT):
        head += block
        if len(head) >= ERROR_BODY_LIMIT:
            break
    return head[:ERROR_BODY_LIMIT]


def _raw(response: httpx.Response, host: str) -> Iterator[bytes]:
    with _upstream(f"batch file on {host}"):
        if response.is_stream_consumed:  # a transport that already read the body
            yield response.content
            return
        yield from response.iter_raw(RAW_CHUNK_BYTES)
