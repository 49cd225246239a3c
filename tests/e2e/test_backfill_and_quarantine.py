"""Reset with a start time re-collects from there; messages a rule cannot mask safely are withheld,
counted and listed by the quarantine route, never forwarded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import deploy, duplicates, wait_caught_up
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(240)


def test_a_reset_to_the_start_of_the_backlog_collects_every_record_again_and_a_bad_start_is_a_400(
    tmp_path: Path,
) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source(collections=("dlp",))
        deployment.wait_state(collector, source, "Collecting")
        first = wait_caught_up(deployment, deployment.delivered, collections=("dlp",))["dlp"]
        assert set(first.values()) == {1}
        origin = deployment.simulator.state()["origin"]
        url = f"/collectors/{collector}/sources/{source}/action/reset"
        for bad in (
            {},
            {"startTime": "yesterday"},
            {"startTime": "2026-11-24T00:00:00"},
            {"startTime": "2999-01-01T00:00:00Z"},
        ):
            refused = deployment.client.post(url, json=bad)
            assert refused.status_code == 400, bad
            assert "startTime" in refused.json()["message"]

        answer = deployment.client.post(
            f"/collectors/{collector}/sources/{source}/action/reset", json={"startTime": origin}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["reset"]["dlp"] == origin.replace(".000Z", "Z")
        wait_for(
            lambda: all(deployment.delivered()["dlp"][record] == 2 for record in first),
            timeout=90,
            what="every DLP record collected a second time",
        )
        assert deployment.state(collector, source)["state"] == "Collecting"


def test_messages_a_mask_rule_would_break_are_withheld_counted_and_listed(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        rule = {"name": "key and value", "filterType": "Mask", "regexp": '.*("id":"[^"]*").*'}
        made = deployment.client.post(
            "/collectors", json={"collector": {"collectorType": "Hosted", "name": "q"}}
        ).json()["collector"]["id"]
        body = {
            "api.version": "v1",
            "source": {
                "config": {
                    "name": "Mimecast",
                    "clientID": deployment.simulator.options["client_id"],
                    "clientSecret": deployment.simulator.options["client_secret"],
                    "dataCollection": ["auditEvent"],
                    "filters": [rule],
                },
                "schemaRef": {"type": "Mimecast"},
                "sourceType": "Universal",
            },
        }
        created = deployment.client.post(f"/collectors/{made}/sources", json=body)
        created.raise_for_status()
        source = created.json()["source"]["id"]
        deployment.wait_state(made, source, "Collecting")
        expected = deployment.expected()["auditEvent"]

        def listed() -> dict[str, object] | None:
            answer = deployment.client.get(
                f"/collectors/{made}/sources/{source}/quarantine", params={"limit": 5}
            )
            answer.raise_for_status()
            found: dict[str, object] = answer.json()
            return found if int(found["total"]) >= len(expected) else None  # type: ignore[call-overload]

        quarantine = wait_for(listed, timeout=60, what="every audit event withheld")
        entries = quarantine["quarantine"]
        assert len(entries) == 5
        assert "key and value" in entries[0]["reason"]
        assert entries[0]["collection"] == "auditEvent"
        assert not deployment.lines(), "a withheld message is never forwarded"


def test_a_bad_line_in_a_siem_file_is_quarantined_and_the_rest_of_the_file_delivered(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        sim = deployment.simulator
        listing = httpx.get(
            f"{sim.url}/siem/v1/batch/events/cg",
            params={"pageSize": "100"},
            headers={"Authorization": f"Bearer {sim.token()}"},
            timeout=30,
        )
        listing.raise_for_status()
        url = listing.json()["value"][0]["url"]
        corrupt = {"file": url, "mode": "bad_line", "line": 2}
        sim.control.post("/_sim/files/corrupt", json=corrupt).raise_for_status()

        collector, source = deployment.create_source(collections=("siem",), config={"siemMode": "batch"})
        delivered = wait_caught_up(deployment, deployment.delivered, collections=("siem",))
        assert duplicates(delivered) == {}
        answer = deployment.client.get(f"/collectors/{collector}/sources/{source}/quarantine")
        answer.raise_for_status()
        found = answer.json()
        assert found["total"] == 1
        (entry,) = found["quarantine"]
        assert entry["collection"] == "siem"
        assert entry["position"] >= 1
        assert entry["reason"]
