"""Errors as the contract's table says, end to end: revoked credentials halt at once, a long Mimecast
outage gives up after the retry window, a destination outage is retried; none loses a record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import calls, deploy, duplicates, received, wait_caught_up
from tests.support.receiver import Receiver
from tests.support.simulator import CLIENT_ID
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(240)
ROUTES = ("token", "batch", "files", "streaming", "dlp", "audit", "hold")


def open_event(deployment, source: str, name: str, severity: str | None = None):  # type: ignore[no-untyped-def]
    def found():  # type: ignore[no-untyped-def]
        for event in deployment.unresolved():
            mine = event["resourceIdentity"]["id"] == source and event["eventName"] == name
            if mine and (severity is None or event["severityLevel"] == severity):
                return event
        return None

    return wait_for(found, timeout=60, what=f"open {name} event")


def test_revoked_credentials_halt_at_once_and_an_update_resumes_without_a_gap(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        # SIEM batch files are listed every poll (2 s here): the revocation is met at once. (Streaming,
        # like the windowed collections, asks Mimecast only once its next minute-long window is due.)
        collector, source = deployment.create_source(config={"siemMode": "batch"})
        deployment.wait_state(collector, source, "Collecting")
        wait_caught_up(deployment, deployment.delivered)

        deployment.simulator.control.post(f"/_sim/clients/{CLIENT_ID}/revoke").raise_for_status()
        state = deployment.wait_state(collector, source, "Error", timeout=30)
        assert state["error"]["type"] == "ThirdPartyConfig"
        event = open_event(deployment, source, "ThirdPartyConfigError")
        assert event["severityLevel"] == "Error"
        time.sleep(1.0)  # chains already running finish
        before = calls(deployment)
        time.sleep(4.0)  # two polls' worth: no Mimecast call while halted
        assert calls(deployment) == before

        new_secret = "rotated-secret-after-revoke"
        body = {
            "client_id": CLIENT_ID,
            "client_secret": new_secret,
            "collections": ["siem", "dlp", "auditEvent", "holdMessageList"],
        }
        deployment.simulator.control.post("/_sim/clients", json=body).raise_for_status()
        config = deployment.source(collector, source)["config"]
        config["clientSecret"] = new_secret
        update = {
            "api.version": "v1",
            "source": {"config": config, "schemaRef": {"type": "Mimecast"}, "sourceType": "Universal"},
        }
        deployment.client.put(f"/collectors/{collector}/sources/{source}", json=update).raise_for_status()
        deployment.wait_state(collector, source, "Collecting", timeout=30)
        delivered = wait_caught_up(deployment, deployment.delivered)
        assert duplicates(delivered) == {}


def test_mimecast_failing_past_the_retry_window_stops_the_source_and_a_restart_resumes(
    tmp_path: Path,
) -> None:
    with deploy(tmp_path, settings={"RETRY_WINDOW_SECONDS": "6"}) as deployment:
        collector, source = deployment.create_source()
        deployment.wait_state(collector, source, "Collecting")
        for route in ROUTES:
            deployment.simulator.fault(route, kind="status", status=503, count=100_000)
        open_event(deployment, source, "ThirdPartyGenericError", "Warning")
        assert deployment.state(collector, source)["state"] == "Error"
        open_event(deployment, source, "ThirdPartyGenericError", "Error")  # the window ran out
        state = deployment.state(collector, source)
        assert state["state"] == "Error"
        assert state["error"]["type"] == "ThirdPartyGeneric"
        time.sleep(1.0)
        before = calls(deployment)
        time.sleep(4.0)  # it quit: no more attempts
        assert calls(deployment) == before

        deployment.simulator.control.delete("/_sim/faults").raise_for_status()
        deployment.client.post(f"/collectors/{collector}/sources/{source}/action/restart").raise_for_status()
        deployment.wait_state(collector, source, "Collecting", timeout=30)
        delivered = wait_caught_up(deployment, deployment.delivered)
        assert duplicates(delivered) == {}
        healthy = [e for e in deployment.events(source) if e["eventName"] == "SourceHealthy"]
        assert healthy, "recovery resolves the health events"


def test_a_destination_down_for_a_while_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    receiver = Receiver()  # not listening yet: the destination is down
    with deploy(tmp_path, sink_url=receiver.url) as deployment:
        try:
            collector, source = deployment.create_source()
            event = open_event(deployment, source, "FirstPartyGenericError", "Warning")
            assert "destination" in event["details"]["description"]
            assert deployment.state(collector, source)["error"]["type"] == "FirstPartyGeneric"
            receiver.start()
            deployment.wait_state(collector, source, "Collecting", timeout=30)
            delivered = wait_caught_up(deployment, lambda: received(receiver))
            assert duplicates(delivered) == {}
            assert not [e for e in deployment.unresolved() if e["resourceIdentity"]["id"] == source]
        finally:
            receiver.stop()
