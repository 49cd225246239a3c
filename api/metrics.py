"""`GET /metrics`: the Prometheus text format, read from Redis at scrape time.

Everything comes from Redis when Prometheus asks, so the figures stay right across worker
restarts, prefork children and scaling, and the API keeps no state of its own. Behind the same
HTTP Basic credentials as `/api/v1` (Prometheus: `basic_auth` in the scrape config).

Series (labels `source`, `collection`, and `type` for errors):
- `mimecast_source_records_forwarded_total`, `..._pages_fetched_total`, `..._errors_total`,
  `..._quarantined_lines_total`: the counters of `core.store.counters`;
- `..._destination_batches_total`, `..._destination_records_total`, `..._destination_failures_total`
  (by `kind`), `..._destination_send_milliseconds_total` and `..._destination_sends_total`, labelled
  `destination` and `type` (the `SINK_URL` default is `destination="default"`);
- `mimecast_source_checkpoint_age_seconds`: time since the stream's last committed checkpoint;
- `mimecast_source_data_lag_seconds`: how far behind now the stream's cursor is, when its cursor
  says (the end of its last window, or its start);
- `mimecast_source_due_streams` (due and not yet claimed), `mimecast_source_scheduled_streams`;
- `mimecast_source_pacing_waits_total` and `..._pacing_wait_milliseconds_total`, labelled `endpoint`
  (the Mimecast path) and `how` (`inline`: a short wait inside the task; `rescheduled`: the unit
  was put back in the due set until its next call may go): waits the shared rate budget imposed;
- `mimecast_source_rate_budget_remaining` and `..._rate_budget_reset_seconds`, labelled `endpoint`
  and `app` (a short digest of the client id, never the id): what Mimecast last said is left of
  each application's quota, and in how long it renews;
- `mimecast_source_sources{state}`;
- `mimecast_source_redis_up`: 0 when Redis could not be read (the other series are then absent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.security import authenticated
from core.errors import FirstPartyGenericError
from core.lifecycle.states import State
from core.store import counters, keys
from core.store.coordination import Coordination
from core.store.counters import Counters
from core.store.destinations import BATCHES, FAILURES, RECORDS, SEND_MS, SENDS
from core.store.destinations import COUNTERS as DESTINATION_COUNTERS
from core.store.sources import SourceStore
from core.store.throttle import Throttle

PREFIX = "mimecast_source"
COUNTERS = {
    counters.RECORDS_FORWARDED: "Records written to the destination (checkpoint committed after).",
    counters.PAGES_FETCHED: "Pages (or SIEM file chunks) read from Mimecast.",
    counters.ERRORS: "Failed fetches or forwards, by error type.",
    counters.QUARANTINED_LINES: "Malformed records or lines kept aside instead of forwarded.",
    counters.THROTTLE_WAITS: "Fetches that waited out a 429 another unit on the same client id met.",
    counters.PACING_WAITS: "Calls the shared rate budget made wait, by endpoint and how they waited.",
    counters.PACING_WAIT_MS: "Milliseconds calls waited for the shared rate budget, by endpoint and how.",
    BATCHES: "Batches a destination accepted, by destination and type.",
    RECORDS: "Records a destination accepted, by destination and type.",
    FAILURES: "Failed writes to a destination, by destination, type and kind of failure.",
    SEND_MS: "Milliseconds spent sending to a destination (over every send; / sends = mean latency).",
    SENDS: "Sends to a destination, accepted or failed.",
}
PAGE = 1000
# Counters shown with their own labels (not per source and collection).
AS_LABELLED = frozenset({*DESTINATION_COUNTERS, counters.PACING_WAITS, counters.PACING_WAIT_MS})


class RedisCollector(Collector):
    """Reads counters, checkpoints, the due set and source states from Redis on every scrape."""

    def __init__(
        self, client: redis.Redis, sources: SourceStore, now: Callable[[], float] = time.time
    ) -> None:
        self._redis = client
        self._counters = Counters(client)
        self._streams = Coordination(client)
        self._throttle = Throttle(client)
        self._sources = sources
        self._now = now

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when Redis was read for this scrape, else 0.")
        try:
            families = list(self._families())
        except (FirstPartyGenericError, redis.RedisError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        for name, documentation in COUNTERS.items():
            family = Metric(f"{PREFIX}_{name}", documentation, "counter")
            for labels, value in sorted(self._counters.read(name).items()):
                shown = dict(labels) if name in AS_LABELLED else _labels(dict(labels))
                family.add_sample(f"{PREFIX}_{name}_total", shown, value)
            yield family

        now = self._now()
        age = GaugeMetricFamily(
            f"{PREFIX}_checkpoint_age_seconds",
            "Seconds since the stream's checkpoint was last committed.",
            labels=["source", "collection"],
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_data_lag_seconds",
            "Seconds between now and how far the stream has read (the end of its last window).",
            labels=["source", "collection"],
        )
        states = dict.fromkeys((state.value for state in State), 0)
        for source_id in self._all_source_ids():
            source = self._sources.get_optional(source_id)
            if source is None:
                continue
            states[source.status.state.value] = states.get(source.status.state.value, 0) + 1
            for collection in source.config.data_collection:
                checkpoint = self._streams.checkpoint(keys.stream_of(source_id, collection))
                if checkpoint.committed_at is not None:
                    age.add_metric([source_id, collection], max(0.0, now - checkpoint.committed_at))
                position = cursor_time(checkpoint.cursor)
                if position is not None:
                    lag.add_metric([source_id, collection], max(0.0, now - position))
        yield age
        yield lag

        due = GaugeMetricFamily(f"{PREFIX}_due_streams", "Streams due now and not yet claimed by dispatch.")
        due.add_metric([], self._streams.overdue(now))
        yield due
        scheduled = GaugeMetricFamily(f"{PREFIX}_scheduled_streams", "Streams in the due set.")
        scheduled.add_metric([], int(self._redis.zcard(keys.due_streams())))
        yield scheduled

        yield from self._budgets(now)

        by_state = GaugeMetricFamily(f"{PREFIX}_sources", "Sources per state.", labels=["state"])
        for state, count in states.items():
            by_state.add_metric([state], count)
        yield by_state

    def _budgets(self, now: float) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            f"{PREFIX}_rate_budget_remaining",
            "Calls Mimecast last said are left of the application's quota on the endpoint.",
            labels=["app", "endpoint"],
        )
        reset = GaugeMetricFamily(
            f"{PREFIX}_rate_budget_reset_seconds",
            "Seconds until the application's quota on the endpoint renews.",
            labels=["app", "endpoint"],
        )
        for listed in sorted(self._throttle.budgets(), key=lambda one: (one.app, one.endpoint)):
            if listed.budget.reset_at <= now:
                continue  # renewed since: what it said no longer holds
            remaining.add_metric([listed.app, listed.endpoint], listed.budget.remaining)
            reset.add_metric([listed.app, listed.endpoint], listed.budget.reset_at - now)
        yield remaining
        yield reset

    def _all_source_ids(self) -> Iterator[str]:
        offset = 0
        while True:
            found = self._sources.ids(None, offset, PAGE)
            yield from found
            if len(found) < PAGE:
                return
            offset += PAGE


def _labels(labels: dict[str, str]) -> dict[str, str]:
    return {"source": "", "collection": "", **labels}


def cursor_time(cursor: str | None) -> float | None:
    """Epoch seconds of how far a stored cursor has read, when it has a time: the end of its last
    window (`readTo`; its start is an overlap earlier) or its start (a SIEM batch cursor: its day)."""
    if not cursor:
        return None
    try:
        data: Any = json.loads(cursor)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    found: list[float] = []
    for field in ("readTo", "start", "startDate"):
        value = data.get(field)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            found.append(parsed.timestamp())
    return max(found) if found else None


def install(app: FastAPI, client: redis.Redis) -> None:
    """Serve `/metrics` on `app`, behind the management API's credentials."""
    router = APIRouter(dependencies=[Depends(authenticated)])

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RedisCollector(client, request.app.state.ctx.sources))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
