"""The management API from a shell: one client, the options every command shares, and exit codes.

The commands talk to a running API over HTTP, never to Redis, so they work from any machine that
can reach it. Where and as whom: `--api-url` (or MIMECAST_SOURCE_API_URL, default
http://127.0.0.1:8080), `--access-id` and `--access-key` (or API_ACCESS_ID and API_ACCESS_KEY).
`--json` prints the API's JSON instead of text.

Exit codes, for scripts:
  0  done
  1  the server failed (5xx) or answered something unexpected
  2  usage: a bad option or argument, an unreadable or non-JSON file
  3  not found: no such source or collector
  4  rejected: invalid input or a conflict (400, 409, 412, 413, 415)
  5  unauthorized: missing or wrong access id or key (401)
  6  unreachable: no API answers at the URL
  7  unhealthy (`health` only): a source in Error or an unresolved health event
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

OK, FAILED, USAGE, NOT_FOUND, REJECTED, UNAUTHORIZED, UNREACHABLE, UNHEALTHY = range(8)
DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_CODES = """\b
Exit codes: 0 done, 1 server error, 2 usage, 3 not found, 4 rejected (invalid or conflict),
5 unauthorized, 6 API unreachable, 7 unhealthy (health only)."""
F = TypeVar("F", bound=Callable[..., Any])
CONFIG_FILE = click.Path(path_type=Path)
NO_COLLECTOR = (
    "no collector yet: make one with `mimecast-source collectors create --name NAME` "
    "(sources belong to a collector)"
)


class Failure(click.ClickException):
    """An error message on stderr and a documented exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]


class Api:
    """The management API at `url`, with one access id and key."""

    def __init__(self, url: str, access_id: str | None, access_key: str | None) -> None:
        self.url = url.rstrip("/")
        auth = (access_id, access_key) if access_id and access_key is not None else None
        self._http = httpx.Client(base_url=f"{self.url}/api/v1", auth=auth, timeout=30)

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        return self.exchange(method, path, body, missing_ok=missing_ok)[0]

    def exchange(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, httpx.Headers]:
        """(JSON body, headers) of one call; a failure is a `Failure` with its exit code."""
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise Failure(f"cannot reach the API at {self.url}: {type(exc).__name__}", UNREACHABLE) from None
        if response.status_code == 404 and missing_ok:
            return None, response.headers
        if response.status_code >= 400:
            raise _failure(response)
        try:
            return (response.json() if response.content else {}), response.headers
        except ValueError:
            status = response.status_code
            raise Failure(f"the API answered {status} with a body that is not JSON", FAILED) from None

    def live(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=10).status_code == 200
        except httpx.TransportError:
            return False

    def collectors(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/collectors")["collectors"]
        return found

    def sources(self, collector_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", f"/collectors/{collector_id}/sources")["sources"]
        return found

    def find(self, source_id: str) -> tuple[str, dict[str, Any]]:
        """(collector id, source) of a source id, whichever collector holds it."""
        for collector in self.collectors():
            found = self.call("GET", f"/collectors/{collector['id']}/sources/{source_id}", missing_ok=True)
            if found is not None:
                return collector["id"], found["source"]
        raise Failure(f"no source {source_id}", NOT_FOUND)

    def collector_id(self, wanted: str | None) -> str:
        """A collector by id or name; the only one when none is named."""
        collectors = self.collectors()
        if wanted is None:
            if len(collectors) == 1:
                return str(collectors[0]["id"])
            if not collectors:
                raise Failure(NO_COLLECTOR, USAGE)
            raise Failure(
                f"{len(collectors)} collectors: name one with --collector ID_OR_NAME "
                "(`mimecast-source collectors list` shows them)",
                USAGE,
            )
        for collector in collectors:
            if wanted in (collector["id"], collector.get("name")):
                return str(collector["id"])
        raise Failure(f"no collector {wanted}", NOT_FOUND)


def _failure(response: httpx.Response) -> Failure:
    try:
        message = response.json().get("message") or response.text
    except ValueError:
        message = response.text[:200]
    status = response.status_code
    if status == 401:
        return Failure(f"unauthorized: {message} (check --access-id/--access-key)", UNAUTHORIZED)
    if status == 404:
        return Failure(f"not found: {message}", NOT_FOUND)
    if status in (400, 405, 409, 412, 413, 415, 422):
        return Failure(f"rejected ({status}): {message}", REJECTED)
    return Failure(f"the API failed ({status}): {message}", FAILED)


def api_options(command: F) -> F:
    """The options every command shares: where the API is, as whom, and the output format."""
    options = [
        click.option(
            "--api-url",
            envvar="MIMECAST_SOURCE_API_URL",
            default=DEFAULT_URL,
            show_default=True,
            help="The management API [env MIMECAST_SOURCE_API_URL].",
        ),
        click.option("--access-id", envvar="API_ACCESS_ID", help="Access id [env API_ACCESS_ID]."),
        click.option("--access-key", envvar="API_ACCESS_KEY", help="Access key [env API_ACCESS_KEY]."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def connect(options: dict[str, Any]) -> Api:
    return Api(options.pop("api_url"), options.pop("access_id"), options.pop("access_key"))


def read_json(path: Path, what: str = "source config") -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Failure(f"cannot read a JSON {what} from {path}: {exc}", USAGE) from None


def emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))
