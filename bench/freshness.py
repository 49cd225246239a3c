"""`python -m bench.freshness`: how fresh the windowed collections are on a live simulator.

A whole deployment (redis-server, the simulator, a worker of two processes, beat, the API, the file
destination)
collects DLP, audit events and the hold list with a 60-second poll, while the simulator makes
new records in real time and indexes a share of them minutes late. Every second the benchmark asks the
simulator's ground truth which records have become readable, and reads the destination: a record's
freshness is when it first appeared in the destination minus when it first became readable. It
prints p50, p99 and the worst per collection against the target `p99 <= poll interval + 30 s`, and
the records lost or duplicated (late arrivals up to the overlap: 0 and 0).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.backlog import LAYOUT, truth_key
from bench.deployment import Deployment
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

COLLECTIONS = ("dlp", "auditEvent", "holdMessageList")
SETTLE_SECONDS = 90.0  # the first minute and a half reads the backlog: not counted


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def delivered(root: Path) -> dict[str, Counter[str]]:
    """Ground-truth ids per collection, counted, of every line in the file destination."""
    found: dict[str, Counter[str]] = {c: Counter() for c in COLLECTIONS}
    for path in root.glob(LAYOUT):
        collection = path.relative_to(root).parts[1]
        for line in path.read_bytes().splitlines():
            item = json.loads(line)
            found.setdefault(collection, Counter())[truth_key(collection, item.get("message", item))] += 1
    return found


def add_source(deployment: Deployment) -> None:
    with deployment.api.client() as api:
        made = api.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": "fresh"}})
        made.raise_for_status()
        config = {
            "name": "fresh",
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "dataCollection": list(COLLECTIONS),
        }
        source = {"config": config, "schemaRef": {"type": "Mimecast"}, "sourceType": "Universal"}
        body = {"api.version": "v1", "source": source}
        api.post(f"/collectors/{made.json()['collector']['id']}/sources", json=body).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="how long to measure")
    parser.add_argument("--poll", type=float, default=60.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--rate", type=int, default=30, help="records a minute per collection")
    parser.add_argument("--late-share", type=float, default=0.2, help="share of DLP/audit indexed late")
    parser.add_argument("--late-minutes", type=float, default=5.0, help="latest a late record is indexed")
    options = parser.parse_args()
    settings = {"POLL_INTERVAL_SECONDS": str(options.poll), "LOG_LEVEL": "WARNING"}
    quotas = {name: [1_000_000, 60] for name in ("quota_batch", "quota_streaming", "quota_api")}
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as directory:
        sim = SimulatorProcess(
            Path(directory),
            backlog_hours=0.05,
            events_per_minute=options.rate,
            late_share=options.late_share,
            late_minutes=options.late_minutes,
            **quotas,
        )
        sim.start()
        try:
            with Deployment(Path(directory) / "deployment", sim.url, 2, settings) as deployment:
                since = sim.state()["now"]
                add_source(deployment)
                readable: dict[str, dict[str, float]] = {c: {} for c in COLLECTIONS}
                arrived: dict[str, dict[str, float]] = {c: {} for c in COLLECTIONS}
                started = time.time()
                deadline = started + options.minutes * 60
                while time.time() < deadline:
                    now = time.time()
                    for collection in COLLECTIONS:
                        for key in sim.truth(collection, since=since):
                            readable[collection].setdefault(key, now)
                    for collection, counted in delivered(deployment.destination).items():
                        for key in counted:
                            arrived[collection].setdefault(key, now)
                    time.sleep(max(0.0, 1.0 - (time.time() - now)))
                final = delivered(deployment.destination)
        finally:
            sim.stop()
    cutoff = deadline - options.poll - 30  # a record readable later has not had its chance yet
    target = options.poll + 30
    print(
        f"freshness: {options.minutes:g} min, poll {options.poll:g} s, {options.rate} records/min each, "
        f"late share {options.late_share:g} up to {options.late_minutes:g} min "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    header = f"{'records':>8}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'lost':>6}"
    print(f"  {'collection':<18}{header}  target p99 <= {target:g} s")
    for collection in COLLECTIONS:
        measured = {
            key: moment
            for key, moment in readable[collection].items()
            if started + SETTLE_SECONDS <= moment <= cutoff
        }
        lost = [key for key in measured if key not in arrived[collection]]
        ages = [
            max(0.0, arrived[collection][key] - moment) for key, moment in measured.items() if key not in lost
        ]
        if not ages:
            print(f"  {collection:<18}{0:>8}  (nothing became readable in the measured span)")
            continue
        p99 = percentile(ages, 0.99)
        verdict = "met" if p99 <= target and not lost else "NOT met"
        print(
            f"  {collection:<18}{len(ages):>8}{percentile(ages, 0.5):>8.1f}{p99:>8.1f}{max(ages):>8.1f}"
            f"{len(lost):>6}  {verdict}"
        )
    repeated = {c: sum(n - 1 for n in counted.values() if n > 1) for c, counted in final.items()}
    print(f"  duplicated in the destination: {repeated}")


if __name__ == "__main__":
    main()
