"""Settings of the simulator: command-line options, each also an environment variable `SIM_*`."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

COLLECTIONS = ("siem", "dlp", "auditEvent", "holdMessageList")


class SimulatorSettings(BaseSettings):
    """What the simulator serves and how it misbehaves by default."""

    model_config = SettingsConfigDict(env_prefix="SIM_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8025
    seed: int = 1
    client_id: str = "demo-client-id"
    client_secret: str = "demo-client-secret"  # noqa: S105 - the demo credential
    control_token: str = "sim-control-token"  # noqa: S105 - the demo control token
    start: datetime | None = Field(default=None, description="simulated time at start; default: now")
    clock_frozen: bool = Field(default=False, description="the clock stands still until advanced")
    backlog_hours: float = Field(default=24.0, ge=0, le=24 * 90)
    events_per_minute: int = Field(default=20, ge=0, le=100_000)
    collection_rates: dict[str, int] = Field(
        default_factory=dict, description="per-collection override of events_per_minute"
    )
    latency_ms: int = Field(default=0, ge=0)
    # Token endpoint: 401 with the `fail` body (Sekoia's mock) or a bare 400 (gravwell's mock).
    token_error_status: int = Field(default=401, description="401 or 400")
    token_ttl_seconds: int = 1799
    # SIEM batch files: one file per log type per period, published `lag` (+ jitter) after it ends.
    batch_period_minutes: int = Field(default=15, ge=1)
    batch_lag_minutes: float = Field(default=10.0, ge=0)
    batch_jitter_minutes: float = Field(default=10.0, ge=0)
    batch_max_lines: int = Field(default=20_000, ge=1, description="a longer period is split in parts")
    batch_url_ttl_seconds: int = Field(default=3600, ge=1)
    batch_retention_days: int = 7
    duplicate_url_rate: float = Field(
        default=0.1, ge=0, le=1, description="share of batch pages listing a URL twice"
    )
    streaming_retention_hours: int = 24
    overlap_rate: float = Field(
        default=0.3, ge=0, le=1, description="share of streaming pages repeating a record"
    )
    empty_last_page: bool = Field(default=False, description="/api: last page keeps a placeholder `next`")
    hold_minutes_min: int = 20
    hold_minutes_max: int = 360
    # Quotas per client and endpoint: (requests, window seconds); `quota_api` applies to each /api route.
    quota_batch: tuple[int, int] = (50, 900)
    quota_streaming: tuple[int, int] = (300, 3600)
    quota_api: tuple[int, int] = (1000, 60)

    def rate(self, collection: str) -> int:
        return self.collection_rates.get(collection, self.events_per_minute)
