"""Every record the simulator makes available reaches the destination exactly once, with its metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import COLLECTIONS, deploy, duplicates, wait_caught_up

pytestmark = pytest.mark.timeout(240)


def test_all_four_collections_reach_the_file_destination_exactly_once(tmp_path: Path) -> None:
    with deploy(tmp_path) as deployment:
        collector, source = deployment.create_source()
        deployment.wait_state(collector, source, "Collecting")
        delivered = wait_caught_up(deployment, deployment.delivered)
        assert duplicates(delivered) == {}
        everything = deployment.everything()
        for collection in COLLECTIONS:
            assert set(delivered[collection]) <= everything[collection], collection
            assert delivered[collection], f"nothing delivered for {collection}"
        line = deployment.lines()[0]
        assert line["metadata"]["_source"] == "Mimecast"
