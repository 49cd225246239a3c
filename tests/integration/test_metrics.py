"""`GET /metrics` over HTTP against a real API process and its private Redis.

Given counters, checkpoints, a due set and sources written to Redis the way workers write them,
when Prometheus scrapes `/metrics` with the API's credentials, then it reads each figure as it
stands in Redis at that moment; without credentials it gets 401; with Redis gone, `redis_up` is 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.mimecast.pacing import Budget
from core.store import keys
from core.store.coordination import Coordination
from core.store.counters import (
    ERRORS,
    PACING_WAIT_MS,
    PACING_WAITS,
    PAGES_FETCHED,
    QUARANTINED_LINES,
    RECORDS_FORWARDED,
    Counters,
)
from core.store.throttle import Throttle, app_label
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.stack import Stack, running_stack

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("metrics")) as running:
        yield running


def scrape(stack: Stack, auth: tuple[str, str] | None = (ADMIN_ID, ADMIN_KEY)) -> httpx.Response:
    return httpx.get(f"{stack.api.url}/metrics", auth=auth, timeout=10)


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def make_source(stack: Stack, name: str, collections: list[str]) -> str:
    client = stack.client()
    made = client.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": f"c-{name}"}})
    body = {
        "api.version": "v1",
        "source": {
            "config": {
                "name": name,
                "clientID": "id",
                "clientSecret": "metrics-secret",
                "dataCollection": collections,
            },
            "schemaRef": {"type": "Mimecast"},
            "sourceType": "Universal",
        },
    }
    created = client.post(f"/collectors/{made.json()['collector']['id']}/sources", json=body)
    assert created.status_code == 201, created.text
    source_id: str = created.json()["source"]["id"]
    return source_id


def test_counters_lags_due_set_and_states_are_read_from_redis_at_scrape_time(stack: Stack) -> None:
    source_id = make_source(stack, "metrics", ["siem", "dlp"])
    redis = stack.redis()
    counts = Counters(redis)
    counts.add(RECORDS_FORWARDED, {"source": source_id, "collection": "dlp"}, 120)
    counts.add(PAGES_FETCHED, {"source": source_id, "collection": "dlp"}, 3)
    counts.add(ERRORS, {"source": source_id, "collection": "siem", "type": "ThirdPartyGeneric"}, 2)
    counts.add(QUARANTINED_LINES, {"source": source_id, "collection": "siem"}, 1)
    streams = Coordination(redis)
    now = time.time()
    dlp = keys.stream_of(source_id, "dlp")
    lease = streams.acquire(dlp, 30)
    assert lease is not None
    window_start = now - 3600
    cursor = {"kind": "window", "start": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(window_start))}
    streams.commit(lease, 0, json.dumps(cursor), now - 120)
    streams.schedule(dlp, now - 5)
    streams.schedule(keys.stream_of(source_id, "siem"), now + 300)

    response = scrape(stack)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    on_dlp = (("collection", "dlp"), ("source", source_id))
    on_siem = (("collection", "siem"), ("source", source_id))
    assert found[("mimecast_source_redis_up", ())] == 1
    assert found[("mimecast_source_records_forwarded_total", on_dlp)] == 120
    assert found[("mimecast_source_pages_fetched_total", on_dlp)] == 3
    errors = tuple(sorted((*on_siem, ("type", "ThirdPartyGeneric"))))
    assert found[("mimecast_source_errors_total", errors)] == 2
    assert found[("mimecast_source_quarantined_lines_total", on_siem)] == 1
    assert 115 <= found[("mimecast_source_checkpoint_age_seconds", on_dlp)] <= 180
    assert 3595 <= found[("mimecast_source_data_lag_seconds", on_dlp)] <= 3700
    assert ("mimecast_source_checkpoint_age_seconds", on_siem) not in found  # never committed
    assert found[("mimecast_source_due_streams", ())] == 1
    assert found[("mimecast_source_scheduled_streams", ())] == 2
    assert found[("mimecast_source_sources", (("state", "Pending"),))] == 1
    assert found[("mimecast_source_sources", (("state", "Collecting"),))] == 0

    counts.add(RECORDS_FORWARDED, {"source": source_id, "collection": "dlp"}, 5)
    assert samples(scrape(stack).text)[("mimecast_source_records_forwarded_total", on_dlp)] == 125


def test_pacing_waits_and_rate_budgets_are_shown_per_endpoint_without_the_client_id(stack: Stack) -> None:
    redis = stack.redis()
    counts = Counters(redis)
    waited = {"endpoint": "/api/audit/get-audit-events", "how": "rescheduled"}
    counts.add(PACING_WAITS, waited, 2)
    counts.add(PACING_WAIT_MS, waited, 12_500)
    now = time.time()
    budgets = Throttle(redis)
    assert budgets.swap("the-app-client-id", "/api/audit/get-audit-events", 0, Budget(7, now + 30, now, 50))
    assert budgets.swap("the-app-client-id", "/api/dlp/get-logs", 0, Budget(3, now - 5, now - 65, 50))

    text = scrape(stack).text
    found = samples(text)
    shown = tuple(sorted(waited.items()))
    assert found[("mimecast_source_pacing_waits_total", shown)] == 2
    assert found[("mimecast_source_pacing_wait_milliseconds_total", shown)] == 12_500
    app = (("app", app_label("the-app-client-id")), ("endpoint", "/api/audit/get-audit-events"))
    assert found[("mimecast_source_rate_budget_remaining", app)] == 7
    assert 25 <= found[("mimecast_source_rate_budget_reset_seconds", app)] <= 30
    renewed = (("app", app_label("the-app-client-id")), ("endpoint", "/api/dlp/get-logs"))
    assert ("mimecast_source_rate_budget_remaining", renewed) not in found  # its window has renewed
    assert "the-app-client-id" not in text


def test_metrics_need_the_api_credentials(stack: Stack) -> None:
    assert scrape(stack, auth=None).status_code == 401
    assert scrape(stack, auth=(ADMIN_ID, "wrong")).status_code == 401


def test_no_secret_is_in_the_metrics(stack: Stack) -> None:
    make_source(stack, "secretive", ["dlp"])
    text = scrape(stack).text
    assert "metrics-secret" not in text
    assert ADMIN_KEY not in text


def test_redis_down_is_reported_as_redis_up_zero(tmp_path: Path) -> None:
    with running_stack(tmp_path) as own:
        own.redis_server.kill()
        response = scrape(own)
        assert response.status_code == 200
        assert samples(response.text) == {("mimecast_source_redis_up", ()): 0}
