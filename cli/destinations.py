"""`mimecast-source destinations ...`: managed destinations through the management API.

Like `sources` (see `cli/management.py`), it talks to a running API over HTTP (`--api-url`,
`--access-id`, `--access-key`), prints text or `--json`, and uses the same exit codes. A
destination is named by its id or its name. Files hold `{"destination": {"name", "type",
"config"}}` or just the inner object; secrets in a config come back as ******** and an update that
sends ******** back keeps the stored secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.management import CONFIG_FILE, EXIT_CODES, NOT_FOUND, USAGE, Api, Failure, api_options, connect, emit


def _read(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Failure(f"cannot read a JSON destination from {path}: {exc}", USAGE) from None
    if isinstance(body, dict) and "destination" not in body and "type" in body:
        body = {"destination": body}
    if not isinstance(body, dict):
        raise Failure(f"{path}: expected a JSON object", USAGE)
    return body


def _find(api: Api, wanted: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = api.call("GET", "/destinations")["destinations"]
    for destination in found:
        if destination["id"] == wanted or str(destination["name"]).casefold() == wanted.casefold():
            return destination
    raise Failure(f"not found: no destination {wanted}", NOT_FOUND)


def _line(destination: dict[str, Any]) -> str:
    health = destination.get("health") or {}
    status = str(health.get("status", "?"))
    if status == "failing":
        status += f" ({health.get('lastFailureKind')}: {health.get('lastFailureMessage')})"
    return f"{destination['id']}\t{destination['name']}\t{destination['type']}\t{status}"


@click.group(epilog=EXIT_CODES)
def destinations() -> None:
    """List, show, create, update and delete destinations (where collectors send records)."""


@destinations.command("list", epilog=EXIT_CODES)
@api_options
def list_destinations(as_json: bool, **options: Any) -> None:
    """One line per destination: id, name, type, health."""
    found = connect(options).call("GET", "/destinations")
    if as_json:
        emit(found)
        return
    for destination in found["destinations"]:
        click.echo(_line(destination))


@destinations.command(epilog=EXIT_CODES)
@click.argument("destination")
@api_options
def show(destination: str, as_json: bool, **options: Any) -> None:
    """A destination's config (secrets masked) and health."""
    found = _find(connect(options), destination)
    if as_json:
        emit({"destination": found})
        return
    click.echo(_line(found))
    click.echo(json.dumps(found["config"], indent=2))


@destinations.command(epilog=EXIT_CODES)
@click.option("-f", "--file", "path", type=CONFIG_FILE, required=True, help="JSON destination.")
@api_options
def create(path: Path, as_json: bool, **options: Any) -> None:
    """Create a destination from a JSON file."""
    made = connect(options).call("POST", "/destinations", _read(path))
    if as_json:
        emit(made)
        return
    click.echo(_line(made["destination"]))


@destinations.command(epilog=EXIT_CODES)
@click.argument("destination")
@click.option("-f", "--file", "path", type=CONFIG_FILE, required=True, help="JSON destination.")
@api_options
def update(destination: str, path: Path, as_json: bool, **options: Any) -> None:
    """Replace a destination's name, type and config from a JSON file (******** keeps a secret)."""
    body = _read(path)
    api = connect(options)
    found = _find(api, destination)
    made = api.call("PUT", f"/destinations/{found['id']}", body)
    if as_json:
        emit(made)
        return
    click.echo(_line(made["destination"]))


@destinations.command(epilog=EXIT_CODES)
@click.argument("destination")
@api_options
def delete(destination: str, as_json: bool, **options: Any) -> None:
    """Delete a destination; refused (exit 4) while a collector routes to it."""
    api = connect(options)
    found = _find(api, destination)
    api.call("DELETE", f"/destinations/{found['id']}")
    if as_json:
        emit({})
        return
    click.echo(f"deleted {found['id']}\t{found['name']}")
