"""`mimecast-source collectors ...`: hosted collectors, the home of sources, from a shell.

A collector is made from flags (`--name`, `--category`, `--field k=v` ...) or from a JSON file in
the API's format (`{"collector": {...}}`). Where and as whom, `--json` and the exit codes are those
of `sources` (see `cli/management.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.management import CONFIG_FILE, EXIT_CODES, USAGE, Failure, api_options, connect, emit, read_json

WRITABLE = ("name", "description", "category", "fields", "timeZone", "destinations")


def _flags(command: Any) -> Any:
    options = [
        click.option("-f", "--file", "path", type=CONFIG_FILE, help='JSON file: {"collector": {...}}.'),
        click.option("--name", help="Unique name of the collector."),
        click.option("--description", help="Free text."),
        click.option("--category", help="Default source category of its sources."),
        click.option(
            "--field",
            "fields",
            multiple=True,
            metavar="KEY=VALUE",
            help="A field tagged on its records (repeat).",
        ),
        click.option("--time-zone", help="Time zone, e.g. Etc/UTC."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _given(
    name: str | None,
    description: str | None,
    category: str | None,
    fields: tuple[str, ...],
    time_zone: str | None,
) -> dict[str, Any]:
    """The collector's parts named by flags (a flag left out is not in the result)."""
    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("name", name),
            ("description", description),
            ("category", category),
            ("timeZone", time_zone),
        )
        if value is not None
    }
    if fields:
        pairs = [field.partition("=") for field in fields]
        bad = [field for field, (_, sep, _) in zip(fields, pairs, strict=True) if not sep]
        if bad:
            raise Failure(f"--field {bad[0]}: expected KEY=VALUE", USAGE)
        given["fields"] = {key: value for key, _, value in pairs}
    return given


def _from_file(path: Path) -> dict[str, Any]:
    body = read_json(path, "collector")
    collector = body.get("collector", body) if isinstance(body, dict) else None
    if not isinstance(collector, dict):
        raise Failure(f'{path}: expected {{"collector": {{...}}}}', USAGE)
    return collector


def _line(collector: dict[str, Any], sources: int | None = None) -> str:
    count = "" if sources is None else f"\t{sources} source{'s' if sources != 1 else ''}"
    return f"{collector['id']}\t{collector.get('name')}\t{collector.get('category') or ''}{count}"


@click.group(epilog=EXIT_CODES)
def collectors() -> None:
    """List, show, create, update and delete hosted collectors (sources belong to one)."""


@collectors.command("list", epilog=EXIT_CODES)
@api_options
def list_collectors(as_json: bool, **options: Any) -> None:
    """Every collector: id, name, category and how many sources it holds."""
    api = connect(options)
    found = [(collector, len(api.sources(collector["id"]))) for collector in api.collectors()]
    if as_json:
        emit({"collectors": [{**collector, "sources": count} for collector, count in found]})
        return
    for collector, count in found:
        click.echo(_line(collector, count))
    if not found:
        click.echo("no collectors: make one with `mimecast-source collectors create --name NAME`", err=True)


@collectors.command(epilog=EXIT_CODES)
@click.argument("collector")
@api_options
def show(collector: str, as_json: bool, **options: Any) -> None:
    """One collector (by id or name) and its sources."""
    api = connect(options)
    collector_id = api.collector_id(collector)
    found = api.call("GET", f"/collectors/{collector_id}")["collector"]
    sources = api.sources(collector_id)
    if as_json:
        emit({"collector": found, "sources": sources})
        return
    click.echo(_line(found, len(sources)))
    for key in ("description", "timeZone"):
        if found.get(key):
            click.echo(f"  {key}: {found[key]}")
    for key, value in (found.get("fields") or {}).items():
        click.echo(f"  field {key}={value}")
    for source in sources:
        state = (source.get("state") or {}).get("state", "?")
        click.echo(f"  source {source['id']}\t{source['config'].get('name')}\t{state}")


@collectors.command(epilog=EXIT_CODES)
@_flags
@api_options
def create(
    path: Path | None,
    name: str | None,
    description: str | None,
    category: str | None,
    fields: tuple[str, ...],
    time_zone: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Make a collector from flags or a JSON file (flags win over the file). Prints its id."""
    body = {"collectorType": "Hosted", **(_from_file(path) if path else {})}
    body.update(_given(name, description, category, fields, time_zone))
    if "name" not in body:
        raise Failure("a collector needs a name: --name NAME (or a file with one)", USAGE)
    api = connect(options)
    made = api.call("POST", "/collectors", {"collector": body})
    if as_json:
        emit(made)
        return
    click.echo(_line(made["collector"]))


@collectors.command(epilog=EXIT_CODES)
@click.argument("collector")
@_flags
@api_options
def update(
    collector: str,
    path: Path | None,
    name: str | None,
    description: str | None,
    category: str | None,
    fields: tuple[str, ...],
    time_zone: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Change a collector (by id or name): a file replaces it, flags change only what they name.

    `--field` replaces the whole set of fields."""
    given = _given(name, description, category, fields, time_zone)
    if path is None and not given:
        raise Failure("nothing to change: give -f FILE or a flag such as --name", USAGE)
    api = connect(options)
    collector_id = api.collector_id(collector)
    current, headers = api.exchange("GET", f"/collectors/{collector_id}")
    base = _from_file(path) if path else {k: v for k, v in current["collector"].items() if k in WRITABLE}
    body = {**base, **given, "collectorType": "Hosted"}
    made, _ = api.exchange(
        "PUT",
        f"/collectors/{collector_id}",
        {"collector": body},
        headers={"If-Match": headers.get("ETag", "*")},
    )
    if as_json:
        emit(made)
        return
    click.echo(_line(made["collector"]))


@collectors.command(epilog=EXIT_CODES)
@click.argument("collector")
@api_options
def delete(collector: str, as_json: bool, **options: Any) -> None:
    """Delete a collector (by id or name) and every source in it: they stop now and are removed
    once work in flight ends."""
    api = connect(options)
    collector_id = api.collector_id(collector)
    sources = api.sources(collector_id)
    api.call("DELETE", f"/collectors/{collector_id}")
    if as_json:
        emit({"deleted": collector_id, "sources": [source["id"] for source in sources]})
        return
    click.echo(f"{collector_id}\tdeleted, with {len(sources)} source{'s' if len(sources) != 1 else ''}")
