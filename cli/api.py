"""`mimecast-source api`: serve the management API (`/api/v1`) with uvicorn."""

from __future__ import annotations

import logging

import click


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="API_HOST", help="Interface to listen on."
)
@click.option(
    "--port", type=int, default=8080, show_default=True, envvar="API_PORT", help="Port to listen on."
)
def api(host: str, port: int) -> None:
    """Serve the management API. Needs SECRETS_KEY (or DEMO=true) and REDIS_URL."""
    import uvicorn

    from api.app import create_app
    from worker.logging import configure
    from worker.settings import MissingSetting, Settings

    configure()  # JSON lines on stderr, uvicorn's included; secrets masked
    settings = Settings()
    try:
        app = create_app(settings)
    except MissingSetting as exc:
        raise click.ClickException(str(exc)) from None
    if settings.admin_credentials() is None:
        logging.getLogger("api").warning(
            "No API_ACCESS_ID/API_ACCESS_KEY: only keys made by `mimecast-source access-key create` work."
        )
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, log_config=None)
