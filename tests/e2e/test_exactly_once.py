"""Every record the simulator makes available reaches the destination exactly once, with its metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import ALL_COLLECTIONS, deploy, duplicates, received, wait_caught_up
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(240)

EVENT_IDS = {
    "dlp": {"dlp"},
    "auditEvent": {"audit"},
    "holdMessageList": {"hold"},
    "ttpUrl": {"ttp"},
    "ttpAttachment": {"ttp"},
    "ttpImpersonation": {"ttp"},
    "archiveSearch": {"archive"},
    "holdReleaseLog": {"release"},
    "cloudIntegrated": {"ci"},
    "threatIntelCustomer": {"malware_customer"},
    "threatIntelGrid": {"malware_grid"},
}


def test_one_source_with_all_twelve_collections_delivers_the_ground_truth_once(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source(
            collections=ALL_COLLECTIONS, fields={"_siemForward": True, "team": "mail"}
        )
        deployment.wait_state(collector, source, "Collecting")
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=150, collections=ALL_COLLECTIONS)
        assert duplicates(delivered) == {}
        everything = deployment.everything()
        for collection in ALL_COLLECTIONS:
            assert set(delivered[collection]) <= everything[collection], collection
            assert delivered[collection], f"nothing delivered for {collection}"
        event_ids = EVENT_IDS
        for line in deployment.lines():
            metadata = line["metadata"]
            assert metadata["_source"] == "Mimecast"
            assert metadata["_sourceCategory"] == "mail/mimecast"
            assert metadata["_collector"] == "hosted-e2e"
            assert metadata["_siemVendor"] == "Mimecast"
            assert "team" not in metadata  # not in the fields schema: dropped
            expected = event_ids.get(line["dataCollection"])
            if expected is not None:
                assert metadata["_siemEventID"] in expected
            else:
                assert metadata["_siemEventID"] in {
                    "receipt",
                    "process",
                    "delivery",
                    "jrnl",
                    "ttp",
                    "av",
                    "spam",
                }


def test_all_four_collections_reach_an_http_receiver_exactly_once(tmp_path: Path) -> None:
    with Receiver() as receiver, deploy(tmp_path, sink_url=receiver.url) as deployment:
        collector, source = deployment.create_source()
        deployment.wait_state(collector, source, "Collecting")
        delivered = wait_caught_up(deployment, lambda: received(receiver))
        assert duplicates(delivered) == {}
        for request in receiver.accepted():
            assert request.headers["x-sumo-name"] == "Mimecast"
            assert request.headers["x-sumo-category"] == "mail/mimecast"
            assert request.headers["x-sumo-host"] == "hosted-e2e"
            assert request.fields["_siemForward"] == "true"
            assert request.headers["content-encoding"] == "gzip"
