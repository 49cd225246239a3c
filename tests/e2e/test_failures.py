"""Errors as the contract's table says, end to end: revoked credentials halt every collection at
once, a collection that keeps failing quits alone while the others collect, a long Mimecast outage
gives up after the retry window, a destination outage is retried; none loses a record."""

from __future__ import annotations

import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from core.store import keys
from tests.e2e.harness import COLLECTIONS, calls, deploy, duplicates, received, wait_caught_up
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
        assert state["error"]["collection"] in COLLECTIONS  # the one that met the refusal first
        event = open_event(deployment, source, "ThirdPartyConfigError")
        assert event["severityLevel"] == "Error"
        reasons = [entry["reason"] for entry in history(deployment, collector, source)]
        assert any("the credentials were refused: every collection halted" in reason for reason in reasons)
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


def history(deployment, collector: str, source: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    answer = deployment.client.get(f"/collectors/{collector}/sources/{source}/history")
    answer.raise_for_status()
    return answer.json()["history"]  # type: ignore[no-any-return]


def test_a_collection_that_keeps_failing_quits_alone_while_the_others_deliver_new_records(
    tmp_path: Path,
) -> None:
    # Given an app without the hold list's permission (a 403: halted at once) and an audit route
    # that answers 503 to every call (retried, then quits when its 6-second window runs out)
    client_id, secret = "client-partial", "secret-partial"
    with deploy(tmp_path, settings={"RETRY_WINDOW_SECONDS": "6"}) as deployment:
        sim = deployment.simulator
        grants = {
            "client_id": client_id,
            "client_secret": secret,
            "collections": ["siem", "dlp", "auditEvent"],
        }
        sim.control.post("/_sim/clients", json=grants).raise_for_status()
        sim.fault("audit", kind="status", status=503, count=100_000)
        collector, source = deployment.create_source(
            client_id=client_id, client_secret=secret, config={"siemMode": "batch"}
        )  # SIEM lists batch files on every poll

        # when the audit collection's window runs out
        audit = wait_for(
            lambda: next(
                (e for e in deployment.unresolved() if e["eventName"] == "ThirdPartyGenericError"
                 and e["severityLevel"] == "Error" and e["resourceIdentity"]["id"] == source),
                None,
            ),
            timeout=60,
            what="audit's retry window ran out",
        )  # fmt: skip
        # then its event, the other's and the source's one state name the failing collections
        assert audit["details"]["description"].startswith("auditEvent: 503")
        hold = open_event(deployment, source, "ThirdPartyConfigError", "Error")
        assert hold["details"]["description"].startswith("holdMessageList: 403")
        state = deployment.state(collector, source)
        assert state["state"] == "Error"
        assert state["error"]["collection"] in ("auditEvent", "holdMessageList")
        progress = deployment.client.get(f"/collectors/{collector}/sources/{source}/progress").json()
        errors = {item["collection"]: item["error"] for item in progress["progress"]}
        assert (errors["auditEvent"]["code"], errors["auditEvent"]["stopped"]) == (503, True)
        assert (errors["holdMessageList"]["code"], errors["holdMessageList"]["stopped"]) == (403, True)
        assert (errors["siem"], errors["dlp"]) == (None, None)
        reasons = [entry["reason"] for entry in history(deployment, collector, source)]
        assert any(r.startswith("ThirdPartyGeneric in auditEvent: the retry window ran out") for r in reasons)
        assert any(r.startswith("ThirdPartyConfig in holdMessageList: halted") for r in reasons)

        # and the two quit alone: no more audit or hold calls, while SIEM and DLP go on
        time.sleep(1.0)  # chains already running finish
        before = sim.state()["calls"]
        time.sleep(4.0)  # two polls' worth
        after = sim.state()["calls"]
        assert (after.get("audit"), after.get("hold")) == (before.get("audit"), before.get("hold"))
        assert after.get("batch", 0) > before.get("batch", 0)  # SIEM lists on every poll
        collecting = ("siem", "dlp")
        delivered = wait_caught_up(deployment, deployment.delivered, collections=collecting)
        counted = len(delivered["siem"])
        sim.advance(1200)  # twenty minutes on: Mimecast publishes new SIEM files
        delivered = wait_caught_up(deployment, deployment.delivered, collections=("siem",))
        assert len(delivered["siem"]) > counted, "new SIEM records arrived after audit and hold quit"
        assert duplicates(delivered) == {}
        assert deployment.state(collector, source)["state"] == "Error"  # while any collection is in error


def test_mimecast_failing_past_the_retry_window_stops_every_collection_and_a_restart_resumes(
    tmp_path: Path,
) -> None:
    with deploy(tmp_path, settings={"RETRY_WINDOW_SECONDS": "6"}) as deployment:
        # Every collection's routes fail from the start (the token still comes: the start succeeds).
        for route in ROUTES[1:]:
            deployment.simulator.fault(route, kind="status", status=503, count=100_000)
        collector, source = deployment.create_source()
        open_event(deployment, source, "ThirdPartyGenericError", "Warning")
        assert deployment.state(collector, source)["state"] == "Error"
        open_event(deployment, source, "ThirdPartyGenericError", "Error")  # a window ran out

        def quit_collections() -> set[str]:
            reasons = [entry["reason"] for entry in history(deployment, collector, source)]
            ran_out = (r.split(" in ", 1)[1].split(":", 1)[0] for r in reasons if "retry window ran out" in r)
            return set(ran_out)

        # Each collection retries within its own window, then quits.
        wait_for(lambda: quit_collections() >= set(COLLECTIONS), timeout=60, what="every collection quit")
        state = deployment.state(collector, source)
        assert state["state"] == "Error"
        assert state["error"]["type"] == "ThirdPartyGeneric"
        assert state["error"]["collection"] in COLLECTIONS
        time.sleep(1.0)
        before = calls(deployment)
        time.sleep(4.0)  # they quit: no more attempts
        assert calls(deployment) == before

        deployment.simulator.control.delete("/_sim/faults").raise_for_status()
        deployment.client.post(f"/collectors/{collector}/sources/{source}/action/restart").raise_for_status()
        deployment.wait_state(collector, source, "Collecting", timeout=30)
        delivered = wait_caught_up(deployment, deployment.delivered)
        assert duplicates(delivered) == {}
        healthy = [e for e in deployment.events(source) if e["eventName"] == "SourceHealthy"]
        assert healthy, "recovery resolves the health events"
        # A recovery has its own severity, not the Error of the problem it resolves.
        assert {event["severityLevel"] for event in healthy} == {"Warning"}


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


def test_a_checkpoint_that_cannot_be_read_is_reported_and_a_reset_collects_again(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source(collections=("dlp", "auditEvent"))
        deployment.wait_state(collector, source, "Collecting")
        with closing(redis.Redis.from_url(deployment.redis_server.url)) as store:
            unit = f"{source}:dlp"

            def reported() -> dict | None:  # type: ignore[type-arg]
                # The dlp checkpoint is damaged (edited by hand, restored from elsewhere) until a fetch
                # meets it (a commit of the running poll may write over the first damage)
                for event in deployment.unresolved():
                    if (
                        event["resourceIdentity"]["id"] == source
                        and event["eventName"] == "FirstPartyGenericError"
                    ):
                        return event  # type: ignore[no-any-return]
                store.hset(keys.checkpoint(unit), "cursor", "{}")
                store.zadd(keys.due_streams(), {unit: 0})
                return None

            event = wait_for(reported, timeout=60, what="a FirstPartyGenericError event")
            assert "checkpoint cannot be read" in event["details"]["description"]
            assert "reset the collection" in event["details"]["description"]
            state = deployment.wait_state(collector, source, "Error", timeout=30)
            assert state["error"]["collection"] == "dlp"
            # A reset gives the stream a new checkpoint: it collects again and the event resolves
            since = (deployment.sim_now() - timedelta(hours=1)).replace(microsecond=0)
            answer = deployment.client.post(
                f"/collectors/{collector}/sources/{source}/action/reset",
                json={"startTime": since.isoformat().replace("+00:00", "Z")},
            )
            assert answer.status_code == 202, answer.text
            deployment.wait_state(collector, source, "Collecting", timeout=60)
            wait_for(
                lambda: not [e for e in deployment.unresolved() if e["resourceIdentity"]["id"] == source],
                timeout=60,
                what="the event resolved",
            )
