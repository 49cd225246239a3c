"""Settings of a deployment, from the environment (and `.env`). Read only by the composition roots:
the Celery app (`worker/`), the management API (`api/`) and the command line (`cli/`).

Each setting is documented in the README's settings table and in `.env.example`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

GATEWAYS = {
    "global": "https://api.services.mimecast.com",
    "us": "https://us-api.services.mimecast.com",
    "uk": "https://uk-api.services.mimecast.com",
}


class Settings(BaseSettings):
    """One deployment's configuration; built once per process and passed down as plain values."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Mimecast: a known API 2.0 gateway by name, or an explicit base URL (the simulator, a private
    # gateway). A source config never chooses the host.
    mimecast_gateway: Literal["global", "us", "uk"] = "global"
    mimecast_base_url: str | None = None
    # Credentials for `mimecast-source fetch` only; sources carry their own.
    mimecast_client_id: str | None = None
    mimecast_client_secret: SecretStr | None = None
    http_timeout_seconds: float = Field(default=30.0, gt=0)

    @property
    def mimecast_url(self) -> str:
        """The Mimecast API base URL this deployment talks to."""
        return (self.mimecast_base_url or GATEWAYS[self.mimecast_gateway]).rstrip("/")
