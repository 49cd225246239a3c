"""Settings of the simulator: command-line options, each also an environment variable `SIM_*`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

COLLECTIONS = (
    "siem", "dlp", "auditEvent", "holdMessageList", "ttpUrl", "ttpAttachment", "ttpImpersonation",
    "archiveSearch", "holdReleaseLog", "cloudIntegrated", "threatIntelCustomer", "threatIntelGrid",
)  # fmt: skip


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
    empty_window_flat: bool = Field(
        default=False,
        description='/api logs: an empty window is `data: []` rather than `data: [{"<key>": []}]`',
    )
    # Audit events, the hold list, archive search and release logs have no order option; the real
    # order is unconfirmed (newest first in recorded pages), so it is switchable.
    listing_order: Literal["newest_first", "oldest_first"] = "newest_first"
    # Late arrivals: this share of the records of `late_collections` appears only 1 to `late_minutes`
    # minutes after its timestamp (as Mimecast indexing late; under 2 minutes, half of `late_minutes`
    # to all of it, so tests can use seconds); the ground truth counts it from then.
    late_share: float = Field(default=0.0, ge=0, le=1)
    late_minutes: float = Field(default=8.0, ge=0)
    late_collections: tuple[str, ...] = ("dlp", "auditEvent")
    # Threat-intel feed: objects per page (whole triples), and how its last page ends: without the
    # next-token header, or repeating the token it was asked with (the two readings of spec-more 7.2).
    feed_page_objects: int = Field(default=300, ge=3)
    feed_last_token: Literal["absent", "repeat"] = "absent"  # noqa: S105 - not a secret
    hold_minutes_min: int = 20
    hold_minutes_max: int = 360
    # Quotas per client and endpoint: (requests, window seconds); `quota_api` applies to each /api route.
    quota_batch: tuple[int, int] = (50, 900)
    quota_streaming: tuple[int, int] = (300, 3600)
    quota_api: tuple[int, int] = (1000, 60)
    # How `X-RateLimit-Reset` reads (ms to wait, per the docs, or the epoch second of the reset) and
    # whether the `X-RateLimit-*` headers come on every answer or only on a 429: both unconfirmed.
    quota_reset: Literal["ms", "epoch_seconds"] = "ms"
    quota_headers: Literal["every_answer", "on_429"] = "every_answer"

    def rate(self, collection: str) -> int:
        return self.collection_rates.get(collection, self.events_per_minute)
