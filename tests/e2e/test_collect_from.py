"""Issue 13, item 5 end to end: `collectFrom` at creation asks a new source for more than a day.

Given a simulator holding 50 hours of history, a source created with `collectFrom: "90d"` on audit
events and DLP: audit events are served for 59 days, so the part beyond is reported as a
`CollectionGap` (the gap text names the 59 days, no raw time delta), and every event of the 50
hours arrives once (the default look-back of one day would miss more than half of them). DLP has
no known reach: it starts 90 days back with no gap.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import deploy, wait_caught_up
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(150)


def test_collect_from_reaches_back_past_a_day_and_reports_what_mimecast_no_longer_serves(
    tmp_path: Path,
) -> None:
    # Sub-windows of a week: the backfill is a few dozen calls of a day each, not thousands of an hour.
    settings = {"BACKFILL_SPLIT_SECONDS": str(7 * 86400)}
    simulator = {"backlog_hours": 50, "events_per_minute": 1}
    with deploy(tmp_path, settings=settings, simulator=simulator) as deployment:
        collector, source = deployment.create_source(
            collections=("auditEvent", "dlp"), config={"collectFrom": "90d"}
        )
        shown = deployment.source(collector, source)["config"]
        assert shown["collectFrom"] == "90d"

        def gaps() -> list[dict[str, Any]]:
            return [
                event
                for event in deployment.unresolved()
                if event["resourceIdentity"]["id"] == source and event["eventName"] == "CollectionGap"
            ]

        (gap,) = wait_for(gaps, timeout=60, what="a CollectionGap event")
        description = gap["details"]["description"]
        assert "auditEvent " in description, description
        assert (
            "(older than the 59 days Mimecast serves for auditEvent)" in description
        )  # no "59 days, 0:00:00"

        delivered = wait_caught_up(
            deployment, deployment.delivered, timeout=120, collections=("auditEvent", "dlp")
        )
        for collection in ("auditEvent", "dlp"):
            assert set(delivered[collection].values()) == {1}, Counter(delivered[collection].values())
        older = str(int((deployment.sim_now() - timedelta(hours=30)).timestamp() * 1000))
        assert deployment.simulator.truth("auditEvent", until=older)  # there was history past a day ...
        assert set(deployment.simulator.truth("auditEvent", until=older)) <= set(delivered["auditEvent"])
        assert len(gaps()) == 1  # ... and DLP, with no known reach, reported none
