"""A worker killed between the destination's write and the checkpoint commit, while Mimecast adds
records to the page it was forwarding (late-indexed records landing in a live window): the page
read again goes out as the same batch (its pin, `core.engine.pins`), the added records follow as
the next batch, and every record reaches the destination exactly once.

The HTTP receiver holds the answer to one batch (`Receiver.stall`): the destination has it, the
worker waits in the middle of its forward, and is killed there with `kill -9`. The receiver counts
a batch id once, as a destination that de-duplicates by batch id does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import deploy, duplicates, received
from tests.support.receiver import Receiver
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(120)

# Most records are indexed 6 to 12 s after their time: many of those timed in the window being
# forwarded (it ends 5 s before the read) appear after it was read and before it is read again
# (a lease, 8 s, after the kill).
LATE_SECONDS = 12
SETTINGS = {"WINDOW_OVERLAP_SECONDS": "25", "BACKFILL_SPLIT_SECONDS": "0"}
SIMULATOR = {
    "backlog_hours": 0.02,
    "events_per_minute": 240,
    "late_share": 0.8,
    "late_minutes": LATE_SECONDS / 60,
    "late_collections": ["auditEvent"],
}


def test_a_worker_killed_mid_forward_of_a_page_mimecast_adds_to_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    with (
        Receiver() as receiver,
        deploy(tmp_path, sink_url=receiver.url, settings=SETTINGS, simulator=SIMULATOR) as deployment,
    ):
        collector, source = deployment.create_source(collections=("auditEvent",))
        deployment.wait_state(collector, source, "Collecting")
        wait_for(lambda: received(receiver)["auditEvent"], timeout=60, what="the first audit records")
        time.sleep(3)  # the small backlog is read: the stream reads live windows, where late records land
        # Given a worker killed while the destination holds its batch, before the commit
        receiver.stall()
        held = wait_for(receiver.stalled, timeout=30, what="a batch the destination holds mid-forward")
        for worker in list(deployment.workers):
            worker.kill()
            deployment.workers.remove(worker)
        receiver.release()
        moment = deployment.sim_now()
        deployment.add_worker("r1")
        # When the records timed before the kill, the late ones too, are all indexed
        time.sleep(LATE_SECONDS + 1)
        expected = set(deployment.simulator.truth("auditEvent", until=moment.isoformat()))
        # Then each of them reaches the destination once
        deadline = time.monotonic() + 60
        while lacking := expected - set((delivered := received(receiver))["auditEvent"]):
            assert time.monotonic() < deadline, f"not delivered: {len(lacking)}\n{deployment.logs()[-3000:]}"
            time.sleep(0.5)
        assert duplicates(delivered) == {}
        # and the page was read again as the same batch, what Mimecast added to it following it
        batch = held.batch_key
        assert batch is not None
        assert sum(1 for request in receiver.accepted() if request.batch_key == batch) >= 2
        assert "Mimecast added to it since follow as the next batch" in deployment.logs()
        for worker in deployment.workers:
            worker.stop()
