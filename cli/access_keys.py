"""`mimecast-source access-key create|list|revoke`: management API credentials, stored as digests."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from core.store.access import AccessStore
from worker.settings import Settings


def _store() -> AccessStore:
    return AccessStore(Settings().redis_store())


@click.group("access-key")
def access_key() -> None:
    """Create, list and revoke access keys of the management API (HTTP Basic: id and key)."""


@access_key.command()
@click.option("--label", default="", help="A note to tell keys apart (who or what uses it).")
def create(label: str) -> None:
    """Make a key. The key is printed once and cannot be shown again."""
    access_id, key = _store().create(label, datetime.now(UTC))
    click.echo(f"access id:  {access_id}")
    click.echo(f"access key: {key}")


@access_key.command("list")
def list_keys() -> None:
    """Access ids with their labels and creation times (never the keys)."""
    for info in _store().list():
        click.echo(f"{info.access_id}\t{info.created}\t{info.label}")


@access_key.command()
@click.argument("access_id")
def revoke(access_id: str) -> None:
    """Revoke a key: the next call made with it gets 401."""
    if not _store().revoke(access_id):
        raise click.ClickException(f"no access key {access_id}")
    click.echo(f"revoked {access_id}")
