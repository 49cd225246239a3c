"""A whole deployment for one end-to-end test: redis-server, the simulator, two Celery workers,
beat, the API, and a destination (a directory or an HTTP receiver), all real processes.

Settings are shrunk so that what takes minutes in production takes seconds here: a 2-second poll,
half-second dispatch, leases and holds of a few seconds, a 10-second visibility timeout with a
1-second restore sweep, and a retry window a test chooses.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.api_server import ApiServer
from tests.support.celery_worker import CeleryWorker, base_env
from tests.support.fetching import simulator_id
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess
from tests.support.stack import wait_for
from tests.support.together import together

COLLECTIONS = ("siem", "dlp", "auditEvent", "holdMessageList")
ALL_COLLECTIONS = (
    *COLLECTIONS, "ttpUrl", "ttpAttachment", "ttpImpersonation", "archiveSearch", "holdReleaseLog",
    "cloudIntegrated", "threatIntelCustomer", "threatIntelGrid",
)  # fmt: skip
BATCH_FAMILY = frozenset({"siem", "cloudIntegrated"})  # whole files: no lag cut in the expected set
FAST = {
    "POLL_INTERVAL_SECONDS": "2",
    "DISPATCH_INTERVAL_SECONDS": "0.5",
    "STREAM_HOLD_SECONDS": "8",
    "LEASE_TTL_SECONDS": "8",
    "VISIBILITY_TIMEOUT_SECONDS": "10",
    "UNACKED_RESTORE_INTERVAL_SECONDS": "1",
    "TASK_TIME_LIMIT_SECONDS": "8",
    "RETRY_BASE_SECONDS": "0.3",
    "RETRY_CAP_SECONDS": "1",
    "RETRY_WINDOW_SECONDS": "120",
    "HTTP_TIMEOUT_SECONDS": "5",
}
SIMULATOR = {
    "backlog_hours": 2,
    "events_per_minute": 6,
    "quota_batch": [100_000, 900],
    "quota_streaming": [100_000, 3600],
    "quota_api": [100_000, 60],
    # Nothing is released from the hold list while a test runs: the ground truth counts a message
    # listed at any moment since the simulator started, before the source existed too.
    "hold_minutes_min": 600,
    "hold_minutes_max": 700,
}
LAG = timedelta(minutes=6)  # beyond every windowed stream's lag (5 s; SIEM streaming: 1 minute)


class CeleryBeat:
    """`celery -A worker beat`, its schedule file in the test's directory."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.log_path = directory / "celery-beat.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO",
            "--schedule", str(self.directory / "beat-schedule"),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None


@dataclass
class Deployment:
    directory: Path
    redis_server: RedisServer
    simulator: SimulatorProcess
    api: ApiServer
    env: dict[str, str]
    out: Path
    workers: list[CeleryWorker] = field(default_factory=list)
    client: httpx.Client = field(init=False)
    # Each destination file read once for each (inode, size, mtime): tests poll the destination
    # while a drain writes, and every poll read and parsed every line again (most of a test's CPU).
    _files: dict[Path, tuple[tuple[int, int, int], list[dict[str, Any]], dict[str, Counter[str]]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.client = self.api.client()

    # The management API.
    def create_source(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        collections: tuple[str, ...] = COLLECTIONS,
        fields: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        destinations: list[str] | None = None,
    ) -> tuple[str, str]:
        collector_body: dict[str, Any] = {"collectorType": "Hosted", "name": "hosted-e2e"}
        if destinations is not None:
            collector_body["destinations"] = destinations
        made = self.client.post("/collectors", json={"collector": collector_body})
        made.raise_for_status()
        collector = made.json()["collector"]["id"]
        body = {
            "api.version": "v1",
            "source": {
                "config": {
                    "name": "Mimecast",
                    "category": "mail/mimecast",
                    "fields": fields if fields is not None else {"_siemForward": True},
                    "clientID": client_id,
                    "clientSecret": client_secret,
                    "dataCollection": list(collections),
                    **(config or {}),
                },
                "schemaRef": {"type": "Mimecast"},
                "sourceType": "Universal",
            },
        }
        created = self.client.post(f"/collectors/{collector}/sources", json=body)
        created.raise_for_status()
        return collector, created.json()["source"]["id"]

    def source(self, collector: str, source: str) -> dict[str, Any]:
        found = self.client.get(f"/collectors/{collector}/sources/{source}")
        found.raise_for_status()
        result: dict[str, Any] = found.json()["source"]
        return result

    def state(self, collector: str, source: str) -> dict[str, Any]:
        state: dict[str, Any] = self.source(collector, source)["state"]
        return state

    def wait_state(self, collector: str, source: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (s := self.state(collector, source))["state"] == wanted and s,
            timeout=timeout,
            what=f"source {wanted}",
        )

    def events(self, source: str) -> list[dict[str, Any]]:
        answer = self.client.post(
            "/healthEvents/resources", json={"data": [{"id": source, "type": "Source"}]}
        )
        answer.raise_for_status()
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def unresolved(self) -> list[dict[str, Any]]:
        answer = self.client.get("/healthEvents", params={"limit": 100})
        answer.raise_for_status()
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    # Processes.
    def add_worker(self, name: str, pool: str = "solo", concurrency: int = 1) -> CeleryWorker:
        worker = CeleryWorker(self.directory, self.env, name=name, pool=pool, concurrency=concurrency)
        worker.start()
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.workers)

    # The destination directory.
    def lines(self) -> list[dict[str, Any]]:
        """Every line of the file destination, parsed, file by file in path order."""
        return [dict(line) for lines, _ in self._read() for line in lines]

    def delivered(self) -> dict[str, Counter[str]]:
        """Truth ids per collection, counted, of every line in the file destination."""
        counted: dict[str, Counter[str]] = {collection: Counter() for collection in ALL_COLLECTIONS}
        for _, ids in self._read():
            for collection, found in ids.items():
                counted[collection].update(found)
        return counted

    def _read(self) -> list[tuple[list[dict[str, Any]], dict[str, Counter[str]]]]:
        """Each destination file's lines and their truth ids, in path order; a file is parsed again
        only when it changed."""
        present = []
        for path in sorted(self.out.glob("*/*/*/*.ndjson")):
            try:
                status = path.stat()
                signature = (status.st_ino, status.st_size, status.st_mtime_ns)
                if path not in self._files or self._files[path][0] != signature:
                    lines = [json.loads(line) for line in path.read_text().splitlines() if line]
                    ids = count_ids((line["dataCollection"], line["message"]) for line in lines)
                    self._files[path] = (signature, lines, ids)
            except FileNotFoundError:
                continue
            present.append(self._files[path][1:])
        return present

    # Ground truth.
    def sim_now(self) -> datetime:
        return datetime.fromisoformat(self.simulator.state()["now"].replace("Z", "+00:00"))

    def expected(self) -> dict[str, set[str]]:
        """What must have arrived once collection catches up: every SIEM file published by now,
        every other record timestamped before the windowed streams' safety lag."""
        cut = self.sim_now() - LAG
        until = str(int(cut.timestamp() * 1000))
        found: dict[str, set[str]] = {}
        for collection in ALL_COLLECTIONS:
            params = {} if collection in BATCH_FAMILY else {"until": until}
            found[collection] = set(self.simulator.truth(collection, **params))
        return found

    def everything(self) -> dict[str, set[str]]:
        """Every record made available so far; SIEM through either endpoint (`siemMode` auto streams
        what batch files have not published yet)."""
        found = {collection: set(self.simulator.truth(collection)) for collection in ALL_COLLECTIONS}
        found["siem"] |= set(self.simulator.truth("siem", via="streaming"))
        return found


def truth_id(collection: str, raw: dict[str, Any]) -> str:
    """A record's id in the simulator's ground truth (`tests.support.fetching.simulator_id`)."""
    return simulator_id(collection, raw)


def count_ids(records: Any) -> dict[str, Counter[str]]:
    counted: dict[str, Counter[str]] = {collection: Counter() for collection in ALL_COLLECTIONS}
    for collection, raw in records:
        counted[collection][truth_id(collection, raw)] += 1
    return counted


def missing(delivered: dict[str, Counter[str]], expected: dict[str, set[str]]) -> dict[str, int]:
    return {c: len(expected[c] - set(delivered[c])) for c in expected if expected[c] - set(delivered[c])}


def duplicates(delivered: dict[str, Counter[str]]) -> dict[str, list[str]]:
    found = {c: [i for i, n in counted.items() if n > 1] for c, counted in delivered.items()}
    return {c: ids[:5] for c, ids in found.items() if ids}


def wait_caught_up(
    deployment: Deployment, read: Any, timeout: float = 90, collections: tuple[str, ...] = COLLECTIONS
) -> dict[str, Counter[str]]:
    """Until the destination holds every expected id (of those collections); what it holds then."""
    expected = {c: ids for c, ids in deployment.expected().items() if c in collections}
    deadline = time.monotonic() + timeout
    while True:
        delivered: dict[str, Counter[str]] = read()
        lacking = missing(delivered, expected)
        if not lacking:
            return delivered
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered within {timeout}s: {lacking}\n{deployment.logs()[-4000:]}")
        time.sleep(0.5)


@contextmanager
def deploy(
    directory: Path,
    *,
    workers: int = 2,
    sink_url: str | None = None,
    beat: bool = True,
    settings: dict[str, str] | None = None,
    simulator: dict[str, Any] | None = None,
    pool: str = "solo",
    concurrency: int = 1,
) -> Iterator[Deployment]:
    """`workers` Celery workers (each of `pool`, `concurrency` at once), beat, the API, the simulator
    and a Redis server of its own."""
    with ExitStack() as cleanup:
        server = RedisServer(directory / "redis")
        sim = SimulatorProcess(directory, **{**SIMULATOR, **(simulator or {})})
        out = directory / "destination"
        extra = {**FAST, "SINK_URL": sink_url or f"file://{out}", **(settings or {})}
        env = base_env(server.url, sim.url, **extra)
        api = ApiServer(directory, env)
        workers_made = [
            CeleryWorker(directory, env, name=f"w{index + 1}", pool=pool, concurrency=concurrency)
            for index in range(workers)
        ]
        deployment = Deployment(directory, server, sim, api, env, out, workers=workers_made)
        scheduler = CeleryBeat(directory, env) if beat else None
        # Stopped together (each warm shutdown is a second or more), Redis last: a worker stopping
        # hands its unacked message back to it. Workers a test added are stopped too.
        cleanup.callback(server.stop)
        started = list(workers_made)

        def stop_all() -> None:
            every_worker = {id(worker): worker for worker in [*started, *deployment.workers]}.values()
            beat_stop = [scheduler.stop] if scheduler is not None else []
            together(sim.stop, api.stop, *beat_stop, *(worker.stop for worker in every_worker))

        cleanup.callback(stop_all)
        cleanup.callback(deployment.client.close)
        server.start()
        # Beat takes seconds to send its first `dispatch`: started first, so that it ticks by the
        # time the test creates a source (a `dispatch` sent before a worker is ready expires).
        if scheduler is not None:
            scheduler.start()
        # The simulator, the API and each worker take seconds to be ready: started together.
        together(sim.start, api.start, *(worker.start for worker in workers_made))
        yield deployment


def utc_now() -> datetime:
    return datetime.now(UTC)


_EVENT_COLLECTIONS = {"dlp": "dlp", "audit": "auditEvent", "hold": "holdMessageList"}  # the four first


def received(receiver: Receiver) -> dict[str, Counter[str]]:
    """Truth ids per collection of what an HTTP receiver accepted (each batch part once); the
    collection is told by `_siemEventID`, so sources sending there set `_siemForward`."""
    return count_ids(
        (_EVENT_COLLECTIONS.get(item.metadata.get("_siemEventID", ""), "siem"), item.record)
        for item in receiver.delivered()
    )


def calls(deployment: Deployment) -> int:
    """Every Mimecast call the simulator has answered so far."""
    counted: dict[str, int] = deployment.simulator.state()["calls"]
    return sum(counted.values())
