"""Settings of a deployment, from the environment (and `.env`). Read only by the composition roots:
the Celery app (`worker/`), the management API (`api/`) and the command line (`cli/`).

Each setting is documented in the README's settings table and in `.env.example`.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.mimecast.client import base_url

# Published on purpose: demo mode is for trying the product with the simulator, never for real secrets.
DEMO_SECRETS_KEY = "ZGVtby1vbmx5LWtleS1wdWJsaXNoZWQtbm90LXNlY3I="
DEMO_ACCESS_ID = "demo"
DEMO_ACCESS_KEY = "demo-access-key"


class MissingSetting(RuntimeError):
    """A setting the process cannot start without; the message says how to provide it."""


class Settings(BaseSettings):
    """One deployment's configuration; built once per process and passed down as plain values."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    # How long a store call waits for Redis (connect, or an answer) before it fails: without it a
    # connection a network cut left open hangs a task (and, under the threads pool, which enforces
    # no task time limit, its thread) until TCP gives up, hours later.
    redis_timeout_seconds: float = Field(default=30.0, gt=0)
    # Redis's password on its own (docker compose), so no secret is pasted into REDIS_URL by hand:
    # it is added to the URL here, escaped, and any character works in it.
    redis_password: SecretStr | None = None
    # Mimecast: a known API 2.0 gateway by name, or an explicit base URL (the simulator, a private
    # gateway). A source config never chooses the host.
    mimecast_gateway: Literal["global", "us", "uk"] = "global"
    mimecast_base_url: str | None = None
    # Credentials for `mimecast-source fetch` only; sources carry their own.
    mimecast_client_id: str | None = None
    mimecast_client_secret: SecretStr | None = None
    http_timeout_seconds: float = Field(default=30.0, gt=0)

    # Secrets at rest: comma-separated Fernet keys; the first encrypts, every one decrypts (rotation).
    secrets_key: SecretStr | None = None
    # The first admin's management API credentials; more are made with `mimecast-source access-key`.
    api_access_id: str | None = None
    api_access_key: SecretStr | None = None
    # Demo mode: a published secrets key and demo API credentials when none are set. Never in production.
    demo: bool = False
    api_max_body_bytes: int = Field(default=1_048_576, gt=0)
    history_limit: int = Field(default=50, ge=1, le=1000)
    health_log_limit: int = Field(default=100, ge=1, le=10_000)
    # Celery over Redis: a message not acked within the visibility timeout is delivered again, so
    # every task's time limit stays well below it.
    visibility_timeout_seconds: int = Field(default=3600, ge=10)
    task_time_limit_seconds: int = Field(default=600, ge=1)
    # Kombu's sweep that puts unacked messages of dead workers back on the queue runs this often.
    unacked_restore_interval_seconds: int = Field(default=10, ge=1)

    # Collection (see the README, Collection).
    # Where messages go: file://DIR (NDJSON files) or http(s)://... (the hosted-collector protocol).
    sink_url: str = "file://var/destination"
    # A caught-up stream is due again after this long (the product polls every 5 minutes).
    poll_interval_seconds: float = Field(default=300.0, gt=0)
    # Beat enqueues `dispatch` this often; dispatch claims every due unit, `dispatch_batch` per Redis
    # call, and hands the chains of a large tick to `start_units` tasks of `dispatch_chunk` each.
    dispatch_interval_seconds: float = Field(default=5.0, gt=0)
    dispatch_batch: int = Field(default=1000, ge=1)
    dispatch_chunk: int = Field(default=500, ge=1)
    # Children of a source (SIEM batch files, backfill sub-windows) worked at once, at most: one
    # tenant's backlog never takes every worker.
    max_in_flight_per_source: int = Field(default=8, ge=1, le=1000)
    # Consecutive small SIEM batch files of a listing are read as one child up to this many bytes
    # (gzip, as listed), so a task's fixed cost never dwarfs its records; a larger file is alone.
    child_bytes: int = Field(default=1_048_576, ge=1)
    # The SIEM stream lists ahead while fewer than this many of the source's files wait for a slot.
    list_ahead_files: int = Field(default=200, ge=1)
    # A DLP or audit backlog longer than this is split into sub-windows of this span, read in parallel.
    backfill_split_seconds: float = Field(default=3600.0, ge=0)
    # Windowed streams (DLP, audit, the hold list, the other `/api` logs, the feed) read up to the
    # present; each new window reads this much before the previous end again, so a record Mimecast
    # indexes up to this late is still collected (the ids already forwarded are dropped).
    window_overlap_seconds: float = Field(default=600.0, ge=1, le=43_200)
    # A claimed unit comes due again after this long if its fetch -> forward chain was lost.
    stream_hold_seconds: float = Field(default=600.0, gt=0)
    # A fetch's lease on its stream, handed to its forward and renewed there.
    lease_ttl_seconds: float = Field(default=300.0, gt=0)
    # Generic errors are retried with backoff (base doubling up to cap, with jitter) for this long
    # from the first failure, then the source stays in Error until a restart (90 minutes).
    retry_window_seconds: float = Field(default=5400.0, gt=0)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)
    # When Mimecast says at most this share of an endpoint's limit is left before the reset, the
    # remaining calls are spread evenly up to the reset (0: only wait once none is left).
    rate_pace_share: float = Field(default=0.2, ge=0, le=1)
    # SIEM mode `auto` (and any switch to streaming): a batch file is listed at most this long after
    # the time of its records (15-minute periods published 10-20 minutes after them need 35 minutes,
    # hourly ones 80), so a handover to streaming waits for a caught-up listing this long after its
    # point. A 429 pause on the streaming endpoint that would leave the stream this far behind sends
    # `auto` back to batch files (streaming cannot keep up within its quota).
    siem_handover_settle_seconds: float = Field(default=5400.0, ge=0)
    siem_fallback_behind_seconds: float = Field(default=900.0, ge=0)
    # SIEM batch files are read and forwarded in chunks of at most this many records.
    max_records_per_chunk: int = Field(default=5000, ge=1, le=50_000)
    # Quarantined lines kept per source (the newest), and characters kept of each.
    quarantine_limit: int = Field(default=1000, ge=1, le=100_000)
    quarantine_text_chars: int = Field(default=2048, ge=0)

    def redis_store(self) -> redis.Redis:
        """A client of the Redis that holds the stores (not the broker's), with `redis_timeout_seconds`."""
        timeout = self.redis_timeout_seconds
        return redis.Redis.from_url(self.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)

    @model_validator(mode="after")
    def _redis_password_in_url(self) -> Settings:
        """REDIS_URL with REDIS_PASSWORD put in, percent-escaped (a password in the URL wins)."""
        password = self.redis_password.get_secret_value() if self.redis_password is not None else ""
        parts = urlsplit(self.redis_url)
        if password and parts.password is None and parts.scheme in ("redis", "rediss"):
            user = quote(parts.username, safe="") if parts.username else ""
            netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
            self.redis_url = urlunsplit(parts._replace(netloc=netloc))
        return self

    def secrets_keys(self) -> str:
        """The Fernet keys to use; refuses to go on without one outside the demo."""
        if self.secrets_key is not None and self.secrets_key.get_secret_value().strip():
            return self.secrets_key.get_secret_value()
        if self.demo:
            return DEMO_SECRETS_KEY
        raise MissingSetting(
            "SECRETS_KEY is not set: client secrets are encrypted at rest with it. Make one with\n"
            '  python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"\n'
            "and set SECRETS_KEY=<that key> (several, comma-separated, while rotating; the first encrypts). "
            "DEMO=true runs with a published key instead, for trying the product only."
        )

    def admin_credentials(self) -> tuple[str, str] | None:
        """The access id and key from settings (the demo's when in demo mode and none are set)."""
        if self.api_access_id and self.api_access_key is not None and self.api_access_key.get_secret_value():
            return self.api_access_id, self.api_access_key.get_secret_value()
        if self.demo:
            return DEMO_ACCESS_ID, DEMO_ACCESS_KEY
        return None

    @property
    def mimecast_url(self) -> str:
        """The Mimecast API base URL this deployment talks to (ThirdPartyConfigError if malformed)."""
        return base_url(self.mimecast_gateway, self.mimecast_base_url)
