"""`mimecast-source sources ...` and `mimecast-source health`: the management API from a shell.

Where and as whom, `--json`, and the exit codes: see `cli/management.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.management import (
    CONFIG_FILE,
    EXIT_CODES,
    UNHEALTHY,
    UNREACHABLE,
    Api,
    Failure,
    api_options,
    connect,
    emit,
    read_json,
)
from cli.progress import progress


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
    api = connect(options)
    wanted = [api.collector_id(collector)] if collector else [c["id"] for c in api.collectors()]
    found = [(collector_id, source) for collector_id in wanted for source in api.sources(collector_id)]
    if as_json:
        emit({"sources": [{**source, "collectorId": collector_id} for collector_id, source in found]})
        return
    for collector_id, source in found:
        click.echo(_line(collector_id, source))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def show(source_id: str, as_json: bool, **options: Any) -> None:
    """One source: its config (secret masked), state and recent state history."""
    api = connect(options)
    collector_id, source = api.find(source_id)
    history = api.call("GET", f"/collectors/{collector_id}/sources/{source_id}/history")["history"]
    if as_json:
        emit({"source": {**source, "collectorId": collector_id}, "history": history})
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
    body = read_json(path)
    api = connect(options)
    collector_id = api.collector_id(collector)
    made = api.call("POST", f"/collectors/{collector_id}/sources", body)
    if as_json:
        emit(made)
        return
    click.echo(_line(collector_id, made["source"]))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@click.option("-f", "--file", "path", type=CONFIG_FILE, required=True, help="JSON source config.")
@api_options
def update(source_id: str, path: Path, as_json: bool, **options: Any) -> None:
    """Replace a source's config from a JSON file and start it again from its checkpoints.

    Leave out clientSecret (or send ********) to keep the stored secret."""
    body = read_json(path)
    api = connect(options)
    collector_id, _ = api.find(source_id)
    made = api.call("PUT", f"/collectors/{collector_id}/sources/{source_id}", body)
    if as_json:
        emit(made)
        return
    click.echo(_line(collector_id, made["source"]))


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def restart(source_id: str, as_json: bool, **options: Any) -> None:
    """Start a source again from its stored checkpoints (the way out of an Error)."""
    api = connect(options)
    collector_id, _ = api.find(source_id)
    made = api.call("POST", f"/collectors/{collector_id}/sources/{source_id}/action/restart")
    if as_json:
        emit(made)
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
    api = connect(options)
    collector_id, _ = api.find(source_id)
    path = f"/collectors/{collector_id}/sources/{source_id}/action/reset"
    made = api.call("POST", path, {"startTime": start})
    if as_json:
        emit(made)
        return
    click.echo(_line(collector_id, made["source"]))
    for collection, where in (made.get("reset") or {}).items():
        click.echo(f"  {collection}\tfrom {where}")


@sources.command(epilog=EXIT_CODES)
@click.argument("source_id")
@api_options
def delete(source_id: str, as_json: bool, **options: Any) -> None:
    """Delete a source: it stops now and is removed with its checkpoints once work in flight ends."""
    api = connect(options)
    collector_id, _ = api.find(source_id)
    api.call("DELETE", f"/collectors/{collector_id}/sources/{source_id}")
    if as_json:
        emit({"deleted": source_id})
        return
    click.echo(f"{source_id}\tdeleted")


sources.add_command(progress)


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
    api = connect(options)
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
        emit(
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
