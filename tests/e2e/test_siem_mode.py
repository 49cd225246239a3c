"""Issue 10, item 1 end to end: a source in SIEM mode `auto` with a backlog older than the streaming
reach reads it from batch files, hands over to the streaming endpoint, and delivers every SIEM event
exactly once: none lost, none repeated at the handover."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Deployment, deploy, duplicates, truth_id
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(150)


def siem_progress(deployment: Deployment, collector: str, source: str) -> dict[str, Any]:
    answer = deployment.client.get(f"/collectors/{collector}/sources/{source}/progress")
    answer.raise_for_status()
    (siem,) = [entry for entry in answer.json()["progress"] if entry["collection"] == "siem"]
    return siem  # type: ignore[no-any-return]


def timed(raw: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(raw["timestamp"] / 1000, UTC)


def test_auto_reads_a_backlog_older_than_a_day_from_batch_files_then_streams_exactly_once(
    tmp_path: Path,
) -> None:
    simulator = {"backlog_hours": 25, "collection_rates": {"siem": 2}}
    with deploy(tmp_path, simulator=simulator) as deployment:
        sim = deployment.simulator
        collector, source = deployment.create_source(
            collections=("siem",), config={"siemMode": "auto", "collectFrom": "25h"}
        )
        shown = deployment.source(collector, source)["config"]
        assert shown["siemMode"] == "auto"

        # The stream reads batch files first and hands over to streaming, which the progress view says.
        def streaming() -> bool:
            reading = siem_progress(deployment, collector, source).get("siem", {}).get("reading")
            time.sleep(0.3)
            return reading == "streaming"

        wait_for(streaming, timeout=100, what="the SIEM stream reading the streaming endpoint")
        cut = deployment.sim_now() - timedelta(minutes=3)  # inside every streaming window read by now
        until = str(int(cut.timestamp() * 1000))
        expected = set(sim.truth("siem", via="batch")) | set(sim.truth("siem", via="streaming", until=until))

        def arrived() -> list[dict[str, Any]] | None:
            lines = [line["message"] for line in deployment.lines() if line["dataCollection"] == "siem"]
            if expected <= {truth_id("siem", raw) for raw in lines}:
                return lines
            time.sleep(0.5)
            return None

        lines = wait_for(arrived, timeout=40, what="every SIEM event up to a few minutes ago")

        # Exactly once: nothing lost (above), nothing repeated, at the handover or anywhere.
        counted = Counter(truth_id("siem", raw) for raw in lines)
        assert not duplicates({"siem": counted}), duplicates({"siem": counted})

        # What is older than the streaming reach came from batch files, the rest from streaming, and
        # the two meet at one instant: every batch line is older than every streaming event.
        batch = [raw for raw in lines if "_partition" in raw]
        streamed = [raw for raw in lines if "_partition" not in raw]
        assert batch
        assert streamed
        assert all("eventType" in raw and "type" not in raw for raw in streamed)  # Mimecast's streaming shape
        assert min(timed(raw) for raw in batch) < deployment.sim_now() - timedelta(hours=24)
        assert max(timed(raw) for raw in batch) < min(timed(raw) for raw in streamed)
        calls = sim.state()["calls"]
        assert int(calls.get("batch", 0)) >= 1, calls
        assert int(calls.get("streaming", 0)) >= 1, calls
        assert deployment.state(collector, source)["state"] == "Collecting"
