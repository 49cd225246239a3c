"""`mimecast-source simulator`: serve the Mimecast API 2.0 stand-in."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option("--host", default=None, help="Interface to listen on [env SIM_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [env SIM_PORT; default 8025].")
@click.option("--seed", type=int, default=None, help="Seed of the generated data [env SIM_SEED; default 1].")
@click.option("--client-id", default=None, help="Accepted OAuth client id [env SIM_CLIENT_ID].")
@click.option("--client-secret", default=None, help="Accepted OAuth client secret [env SIM_CLIENT_SECRET].")
@click.option(
    "--backlog-hours", type=float, default=None, help="Hours of records before start [env SIM_BACKLOG_HOURS]."
)
@click.option(
    "--events-per-minute",
    type=int,
    default=None,
    help="New records per minute per collection [env SIM_EVENTS_PER_MINUTE].",
)
@click.option(
    "--latency-ms", type=int, default=None, help="Latency added to every call [env SIM_LATENCY_MS]."
)
@click.option("--control-token", default=None, help="Token guarding /_sim/ [env SIM_CONTROL_TOKEN].")
@click.option("--start", default=None, help="Simulated time at start, ISO 8601 [env SIM_START; default now].")
def simulator(**options: Any) -> None:
    """Serve a Mimecast API 2.0 simulator for demos, tests and benchmarks."""
    from simulator.server import serve
    from simulator.settings import SimulatorSettings

    settings = SimulatorSettings(**{name: value for name, value in options.items() if value is not None})
    serve(settings)
