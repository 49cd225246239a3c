"""`mimecast-source sources ...` and `mimecast-source health`: the management API from a shell.

They talk to a running API over HTTP, never to Redis, so they work from any machine that can
reach it. Where and as whom: `--api-url` (or MIMECAST_SOURCE_API_URL, default
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import httpx

OK, FAILED, USAGE, NOT_FOUND, REJECTED, UNAUTHORIZED, UNREACHABLE, UNHEALTHY = range(8)
DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_CODES = """\b
Exit codes: 0 done, 1 server error, 2 usage, 3 not found, 4 rejected (invalid or conflict),
5 unauthorized, 6 API unreachable, 7 unhealthy (health only)."""
F = TypeVar("F", bound=Callable[..., Any])
CONFIG_FILE = click.Path(path_type=Path)


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
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise Failure(f"cannot reach the API at {self.url}: {type(exc).__name__}", UNREACHABLE) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise _failure(response)
        try:
            return response.json() if response.content else {}
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
            raise Failure(f"{len(collectors)} collectors: name one with --collector ID_OR_NAME", USAGE)
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


def _api(options: dict[str, Any]) -> Api:
    return Api(options.pop("api_url"), options.pop("access_id"), options.pop("access_key"))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Failure(f"cannot read a JSON source config from {path}: {exc}", USAGE) from None


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def _state(source: dict[str, Any]) -> str:
    state = source.get("state") or {}
    text = str(state.get("state", "?"))
    error = state.get("error")
    if error:
        text += f" ({error.get('type')}: {error.get('message')})"
    return text


def _line(collector_id: str, source: dict[str, Any]) -> str:
    config = source.get("config", {})
    collections = ",".join(config.get("dataCollection", []))
    return f"{source['id']}\t{collector_id}\t{config.get('name')}\t{_state(source)}\t{collections}"


def _fail(message: str, code: int) -> NoReturn:
    raise Failure(message, code)


@click.group(epilog=EXIT_CODES)
def sources() -> None:
    """List, show, create, update, restart, reset and delete Mimecast sources through the API."""


@sources.command("list", epilog=EXIT_CODES)
@click.option("--collector", help="Only this collector's sources (id or name).")
@api_options
def list_sources(collector: str | None, as_json: bool, **options: Any) -> None:
    """Every source: id, collector, name, state (with its error), collections."""
    api = _api(options)
    wanted = [api.collector_id(collector)] if collector else [c["id"] for c in api.collectors()]
    found = [(collector_id, source) for collector_id in wanted for source in api.sources(collector_id)]
    if as_json:
        _emit({"sources": [{**source, "collectorId": collector_id} for collector_id, source in found]})
        return
    for collector_id, source in found:
        click.echo(_line(collector_id, source))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def show(source_id: str, as_json: bool, **options: Any) -> None:
    """One source: its config (secret masked), state and recent state history."""
    api = _api(options)
    collector_id, source = api.find(source_id)
    history = api.call("GET", f"/collectors/{collector_id}/sources/{source_id}/history")["history"]
    if as_json:
        _emit({"source": {**source, "collectorId": collector_id}, "history": history})
        return
    click.echo(_line(collector_id, source))
    click.echo(json.dumps(source.get("config", {}), indent=2))
    for entry in history[:10]:
        click.echo(f"  {entry.get('time', '')}\t{entry.get('state')}\t{entry.get('reason', '')}")


@sources.command(epilog=EXIT_CODES)
@click.option("-f", "--file", "path", type=CONFIG_FILE, required=True, help="JSON source config.")
@click.option("--collector", help="Collector id or name (needed when there is more than one).")
@api_options
def create(path: Path, collector: str | None, as_json: bool, **options: Any) -> None:
    """Create a source from a JSON file (the product's format, e.g. examples/mimecast-source.json)."""
    body = _read(path)
    api = _api(options)
    collector_id = api.collector_id(collector)
    made = api.call("POST", f"/collectors/{collector_id}/sources", body)
    if as_json:
        _emit(made)
        return
    click.echo(_line(collector_id, made["source"]))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@click.option("-f", "--file", "path", type=CONFIG_FILE, required=True, help="JSON source config.")
@api_options
def update(source_id: str, path: Path, as_json: bool, **options: Any) -> None:
    """Replace a source's config from a JSON file and start it again from its checkpoints.

    Leave out clientSecret (or send ********) to keep the stored secret."""
    body = _read(path)
    api = _api(options)
    collector_id, _ = api.find(source_id)
    made = api.call("PUT", f"/collectors/{collector_id}/sources/{source_id}", body)
    if as_json:
        _emit(made)
        return
    click.echo(_line(collector_id, made["source"]))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def restart(source_id: str, as_json: bool, **options: Any) -> None:
    """Start a source again from its stored checkpoints (the way out of an Error)."""
    api = _api(options)
    collector_id, _ = api.find(source_id)
    made = api.call("POST", f"/collectors/{collector_id}/sources/{source_id}/action/restart")
    if as_json:
        _emit(made)
        return
    click.echo(_line(collector_id, made["source"]))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@click.option(
    "--from", "start", required=True, help="Re-collect from this time (ISO 8601 with a time zone, e.g. ...Z)."
)
@api_options
def reset(source_id: str, start: str, as_json: bool, **options: Any) -> None:
    """Re-collect a source from a point in time (a backfill): its checkpoints move back there."""
    api = _api(options)
    collector_id, _ = api.find(source_id)
    path = f"/collectors/{collector_id}/sources/{source_id}/action/reset"
    made = api.call("POST", path, {"startTime": start})
    if as_json:
        _emit(made)
        return
    click.echo(_line(collector_id, made["source"]))
    for collection, where in (made.get("reset") or {}).items():
        click.echo(f"  {collection}\tfrom {where}")


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def delete(source_id: str, as_json: bool, **options: Any) -> None:
    """Delete a source: it stops now and is removed with its checkpoints once work in flight ends."""
    api = _api(options)
    collector_id, _ = api.find(source_id)
    api.call("DELETE", f"/collectors/{collector_id}/sources/{source_id}")
    if as_json:
        _emit({"deleted": source_id})
        return
    click.echo(f"{source_id}\tdeleted")


def _events(api: Api) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        path = "/healthEvents?limit=1000" + (f"&token={token}" if token else "")
        page = api.call("GET", path)
        yield from page["data"]
        token = page.get("next")
        if not token:
            return


@click.command(epilog=EXIT_CODES)
@api_options
def health(as_json: bool, **options: Any) -> None:
    """Is the API up, how many sources are in each state, and which health events are open.

    Exits 7 when a source is in Error or a health event is unresolved, so a cron job or a
    monitoring check can alert on it."""
    api = _api(options)
    if not api.live():
        _fail(f"cannot reach the API at {api.url}", UNREACHABLE)
    states: dict[str, int] = {}
    for collector in api.collectors():
        for source in api.sources(collector["id"]):
            state = str(source.get("state", {}).get("state", "?"))
            states[state] = states.get(state, 0) + 1
    events = list(_events(api))
    unhealthy = bool(events) or states.get("Error", 0) > 0
    if as_json:
        _emit(
            {"api": "up", "url": api.url, "sources": states, "healthEvents": events, "healthy": not unhealthy}
        )
    else:
        click.echo(f"API {api.url}: up")
        click.echo("sources: " + (", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"))
        for event in events:
            details = event.get("details", {})
            resource = event.get("resourceIdentity", {})
            click.echo(
                f"{event.get('severityLevel')}\t{event.get('eventName')}\t{resource.get('id', '')}\t"
                f"{details.get('description', '')}"
            )
        if not events:
            click.echo("no unresolved health events")
    if unhealthy:
        raise SystemExit(UNHEALTHY)
