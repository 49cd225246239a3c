"""The `mimecast-source` command: one entry point whose subcommands grow with the product."""

from __future__ import annotations

import click

from cli.access_keys import access_key
from cli.api import api
from cli.collectors import collectors
from cli.destinations import destinations
from cli.fetch import fetch
from cli.run import run
from cli.simulator import simulator
from cli.sources import health, sources


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mimecast-source")
def main() -> None:
    """A self-hosted Mimecast Source: collect Mimecast logs and forward them to your log platform."""


main.add_command(simulator)
main.add_command(run)
main.add_command(api)
main.add_command(access_key)
main.add_command(fetch)
main.add_command(collectors)
main.add_command(sources)
main.add_command(health)
main.add_command(destinations)
