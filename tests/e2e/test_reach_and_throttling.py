"""Issue 5, items 7 and 8 end to end: a backfill to a start older than Mimecast still serves opens a
`CollectionGap` Warning that names the lost interval and collection goes on; throttling waits out
`X-RateLimit-Reset` without counting as a failure."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis

from core.store.counters import PACING_WAITS, THROTTLE_WAITS, Counters
from tests.e2e.harness import Deployment, deploy, wait_caught_up
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(120)


def iso_ms(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def open_events(deployment: Deployment, source: str, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in deployment.unresolved()
        if event["resourceIdentity"]["id"] == source and event["eventName"] == name
    ]


def never_in_error(deployment: Deployment, collector: str, source: str) -> None:
    answer = deployment.client.get(f"/collectors/{collector}/sources/{source}/history")
    answer.raise_for_status()
    history = answer.json()["history"]
    assert not [step for step in history if "Error" in str(step)], history


def test_a_backfill_older_than_the_audit_reach_reports_the_gap_and_collection_goes_on(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source(collections=("auditEvent",))
        deployment.wait_state(collector, source, "Collecting")
        before = wait_caught_up(deployment, deployment.delivered, collections=("auditEvent",))["auditEvent"]
        assert set(before.values()) == {1}

        since = (deployment.sim_now() - timedelta(days=90)).replace(microsecond=0)
        answer = deployment.client.post(
            f"/collectors/{collector}/sources/{source}/action/reset",
            json={"startTime": since.isoformat().replace("+00:00", "Z")},
        )
        assert answer.status_code == 202, answer.text
        # The answer says where collection really starts: the oldest point served (59 days back).
        starts_at = answer.json()["reset"]["auditEvent"]
        assert starts_at > since.isoformat().replace("+00:00", "Z")

        (gap,) = wait_for(
            lambda: open_events(deployment, source, "CollectionGap"), timeout=30, what="a CollectionGap event"
        )
        assert gap["severityLevel"] == "Warning"
        description = gap["details"]["description"]
        assert f"auditEvent {iso_ms(since)} .. " in description, description
        edge = description.split(" .. ")[1].split(" ")[0]
        assert edge[:10] == starts_at[:10], (edge, starts_at)  # up to the oldest point served

        # Collection goes on from there: the backfill delivers every audit event once more.
        expected = deployment.expected()["auditEvent"]

        def again() -> dict[str, int] | None:
            after = deployment.delivered()["auditEvent"] - before
            return dict(after) if expected <= set(after) else None

        backfilled = wait_for(again, timeout=60, what="every audit event collected again")
        # Every event delivered before the reset comes once more. One that became available after
        # that snapshot may also have come by a live poll still in flight when the reset took
        # effect: the backfill reads it again by design (a reset collects again from its start).
        twice = {event: count for event, count in backfilled.items() if count != 1}
        assert not {event: count for event, count in twice.items() if event in before}, twice
        assert set(twice.values()) <= {2}, twice
        assert deployment.state(collector, source)["state"] == "Collecting"
        assert not open_events(deployment, source, "ThirdPartyGenericError")
        never_in_error(deployment, collector, source)


def test_a_backfill_older_than_the_siem_batch_reach_reports_the_lost_days_and_collection_goes_on(
    tmp_path: Path,
) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source(collections=("siem",), config={"siemMode": "batch"})
        deployment.wait_state(collector, source, "Collecting")
        before = wait_caught_up(deployment, deployment.delivered, collections=("siem",))["siem"]
        assert set(before.values()) == {1}

        since = (deployment.sim_now() - timedelta(days=10)).replace(microsecond=0)
        answer = deployment.client.post(
            f"/collectors/{collector}/sources/{source}/action/reset",
            json={"startTime": since.isoformat().replace("+00:00", "Z")},
        )
        assert answer.status_code == 202, answer.text
        starts_on = answer.json()["reset"]["siem"]  # the first whole day inside the 7 days served

        (gap,) = wait_for(
            lambda: open_events(deployment, source, "CollectionGap"), timeout=30, what="a CollectionGap event"
        )
        assert gap["severityLevel"] == "Warning"
        description = gap["details"]["description"]
        assert f"siem {since.date().isoformat()}T00:00:00.000Z .. {starts_on}T00:00:00.000Z" in description, (
            description
        )

        expected = set(deployment.simulator.truth("siem"))

        def again() -> dict[str, int] | None:
            after = deployment.delivered()["siem"] - before
            return dict(after) if expected <= set(after) else None

        backfilled = wait_for(again, timeout=60, what="every SIEM record collected again")
        assert set(backfilled.values()) == {1}, Counter(backfilled.values())
        assert deployment.state(collector, source)["state"] == "Collecting"
        never_in_error(deployment, collector, source)


def test_throttling_waits_out_the_reset_and_is_not_a_failure(tmp_path: Path) -> None:
    faults, reset_ms = 3, 2000
    # One DLP stream, not split into sub-windows: what is checked is how one unit waits out a 429.
    with deploy(tmp_path, settings={"BACKFILL_SPLIT_SECONDS": "0"}) as deployment:
        sim = deployment.simulator
        sim.fault("dlp", kind="rate_limit", count=faults, reset_ms=reset_ms)
        collector, source = deployment.create_source(collections=("dlp",))

        seen: list[float] = []  # when the simulator had answered the 1st, 2nd, ... DLP call

        def watch() -> bool:
            counted = int(sim.state()["calls"].get("dlp", 0))
            while len(seen) < counted:
                seen.append(time.monotonic())
            assert deployment.state(collector, source)["state"] != "Error"
            return len(seen) > faults

        wait_for(watch, timeout=30, what="the throttled calls and a served one")
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=30, collections=("dlp",))
        assert set(delivered["dlp"].values()) == {1}

        # Each retry came after the reset Mimecast asked for, not on the 0.3 s failure backoff.
        spacing = [later - earlier for earlier, later in pairwise(seen[: faults + 1])]
        assert all(gap >= reset_ms / 1000 * 0.8 for gap in spacing), spacing
        pages = int(sim.state()["calls"]["dlp"]) - faults
        assert pages <= 4, sim.state()["calls"]  # a page or two, then caught up: no hammering

        assert deployment.state(collector, source)["state"] == "Collecting"
        assert not open_events(deployment, source, "ThirdPartyGenericError")
        assert not [e for e in deployment.events(source) if e["eventName"] == "ThirdPartyGenericError"]
        never_in_error(deployment, collector, source)


def test_a_429_met_by_one_source_pauses_that_endpoint_for_every_source_on_the_client_id(
    tmp_path: Path,
) -> None:
    reset_ms = 4000
    with deploy(tmp_path, settings={"BACKFILL_SPLIT_SECONDS": "0"}) as deployment:
        sim = deployment.simulator
        sim.fault("dlp", kind="rate_limit", count=1, reset_ms=reset_ms)
        collector, _ = deployment.create_source(collections=("dlp",))
        wait_for(lambda: int(sim.state()["calls"].get("dlp", 0)) >= 1, timeout=30, what="the first DLP call")
        throttled_at = time.monotonic()
        # Given a second source on the same client id, started while the first waits out the reset
        config = {
            "name": "Mimecast again",
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "dataCollection": ["dlp"],
        }
        body = {
            "api.version": "v1",
            "source": {"config": config, "schemaRef": {"type": "Mimecast"}, "sourceType": "Universal"},
        }
        second = deployment.client.post(f"/collectors/{collector}/sources", json=body)
        second.raise_for_status()
        # Then neither calls the DLP endpoint again before the reset
        calls_after: list[float] = []

        def watch() -> bool:
            counted = int(sim.state()["calls"].get("dlp", 0))
            while len(calls_after) < counted - 1:
                calls_after.append(time.monotonic())
            return len(calls_after) >= 2

        wait_for(watch, timeout=40, what="DLP calls from both sources after the reset")
        assert calls_after[0] - throttled_at >= reset_ms / 1000 * 0.8, calls_after
        client = redis.Redis.from_url(deployment.redis_server.url)
        waited = Counters(client).read(THROTTLE_WAITS)
        client.close()
        assert any(dict(labels).get("source") == second.json()["source"]["id"] for labels in waited), waited
        # And both deliver every DLP record, once each
        assert deployment.wait_state(collector, second.json()["source"]["id"], "Collecting")


def test_the_remaining_budget_paces_calls_so_that_no_429_comes(tmp_path: Path) -> None:
    # Given a DLP quota of 4 calls per 4 s, and a backlog of about ten pages read one after another
    simulator = {"quota_api": [4, 4], "collection_rates": {"dlp": 40}}
    with deploy(tmp_path, settings={"BACKFILL_SPLIT_SECONDS": "0"}, simulator=simulator) as deployment:
        sim = deployment.simulator
        collector, source = deployment.create_source(collections=("dlp",))
        # When it collects the backlog
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=60, collections=("dlp",))
        assert set(delivered["dlp"].values()) == {1}
        # Then the budget spread the calls: Mimecast never had to refuse one, and the waits are counted
        state = sim.state()
        assert int(state["calls"]["dlp"]) > 8, state["calls"]  # more than two windows' worth
        assert state["overQuota"].get("dlp", 0) == 0, state
        client = redis.Redis.from_url(deployment.redis_server.url)
        waited = Counters(client).read(PACING_WAITS)
        client.close()
        on_dlp = [
            count for labels, count in waited.items() if dict(labels)["endpoint"] == "/api/dlp/get-logs"
        ]
        assert sum(on_dlp) > 0, waited
        assert deployment.state(collector, source)["state"] == "Collecting"
