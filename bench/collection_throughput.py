"""How fast collection drains a backlog: Celery workers on Redis against a plain loop, then scaling.

1. A backlog of at least 200,000 SIEM records and 20,000 of each other collection, from the simulator
   to the file destination, by one worker of two processes (beat, dispatch, fetch -> forward, Redis
   checkpoints): records per second and Mimecast calls per 10,000 records. In the same run, the same
   backlog read by a plain single-process loop (our client over httpx, NDJSON lines to a file, no
   Celery, no Redis) as the reference, and the ratio of the two.
2. With 100 ms of simulated latency on every Mimecast call, the same amount of data spread over four
   sources (sixteen streams), drained by 1, 4 and 8 worker processes.

The simulator's clock is frozen at the start of each run, so the backlog is fixed while it drains.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

from core.clock import SystemClock
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient
from core.mimecast.fetcher import Fetcher
from core.mimecast.streams import spec_for
from core.mimecast.windows import initial_cursor
from core.models import CollectorConfig, Credentials, SourceConfig
from core.processing.jsontext import message_text
from core.store.collectors import CollectorStore
from core.store.counters import RECORDS_FORWARDED, Counters
from core.store.secrets import SecretBox
from core.store.sources import SourceStore
from tests.support.celery_worker import TEST_SECRETS_KEY, CeleryWorker, base_env
from tests.support.redis_server import RedisServer
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess
from worker.config import create_celery
from worker.settings import Settings

COLLECTIONS = ("siem", "dlp", "auditEvent", "holdMessageList")
SIEM_RECORDS = 215_000  # what is published by the frozen moment stays above 200,000
OTHER_RECORDS = 20_000
BACKLOG_HOURS = 6
CHUNK = 2000
# Records of the last minutes are left to the windowed streams' safety lag (DLP and audit: 5 min).
CUT = timedelta(minutes=6)


def _rates(scale: int) -> dict[str, int]:
    minutes = BACKLOG_HOURS * 60
    return {
        "siem": -(-SIEM_RECORDS // (minutes * scale)),
        "dlp": -(-OTHER_RECORDS // (minutes * scale)),
        "auditEvent": -(-OTHER_RECORDS // (minutes * scale)),
        "holdMessageList": -(-OTHER_RECORDS // (minutes * scale)),
    }


def _beat(directory: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--schedule", str(directory / "beat")]
    with (directory / "beat.log").open("ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)


def _simulator(directory: Path, scale: int, latency_ms: int) -> SimulatorProcess:
    directory.mkdir(parents=True, exist_ok=True)
    sim = SimulatorProcess(
        directory,
        backlog_hours=BACKLOG_HOURS,
        collection_rates=_rates(scale),
        events_per_minute=20,
        latency_ms=latency_ms,
        quota_batch=(1_000_000, 900),
        quota_api=(1_000_000, 60),
        quota_streaming=(1_000_000, 3600),
        batch_lag_minutes=0,
        batch_jitter_minutes=0,
        hold_minutes_min=2000,
        hold_minutes_max=2100,
    )
    sim.start()
    sim.control.post("/_sim/clock/freeze").raise_for_status()
    return sim


def _expected(sim: SimulatorProcess) -> dict[str, int]:
    now = datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00"))
    until = str(int((now - CUT).timestamp() * 1000))
    counts = {"siem": len(sim.truth("siem"))}
    for collection in COLLECTIONS[1:]:
        counts[collection] = len(sim.truth(collection, until=until))
    return counts


def _calls(sim: SimulatorProcess) -> int:
    return sum(sim.state()["calls"].values())


@dataclass
class Figures:
    records: int
    seconds: float
    calls: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def calls_per_10k(self) -> float:
        return self.calls / self.records * 10_000


def plain_loop(sim: SimulatorProcess, out: Path) -> Figures:
    """The reference: one process, our client over httpx, NDJSON lines appended to one file."""
    clock = SystemClock()
    client = MimecastClient(sim.url, clock, timeout=httpx.Timeout(300))
    flow = TokenFlow(MemoryTokenCache(clock), client.request_token, clock)
    fetcher = Fetcher(
        Session(client, flow, Credentials(CLIENT_ID, CLIENT_SECRET)),
        BatchFileReader(client, max_records=CHUNK),
        clock,
    )
    before, records, began = _calls(sim), 0, time.perf_counter()
    with out.open("w") as sink:
        for collection in COLLECTIONS:
            spec = spec_for(collection)
            for page in fetcher.pages(spec, initial_cursor(spec, clock.now())):
                for record in page.records:
                    line = {"id": record.id, "dataCollection": collection, "logType": record.kind}
                    sink.write(json.dumps(line)[:-1] + ',"message":' + message_text(record.raw) + "}\n")
                records += len(page.records)
    seconds = time.perf_counter() - began
    client.close()
    return Figures(records, seconds, _calls(sim) - before)


def celery_drain(
    directory: Path, sim: SimulatorProcess, *, processes: int, sources: int, target: int
) -> Figures:
    """Sources created in Redis, one worker of `processes` prefork processes plus beat; until the
    forwarded-records counters reach `target`."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory / "redis")
    server.start()
    out = directory / "destination"
    env = base_env(
        server.url,
        sim.url,
        SINK_URL=f"file://{out}",
        POLL_INTERVAL_SECONDS="5",
        DISPATCH_INTERVAL_SECONDS="0.5",
        MAX_RECORDS_PER_CHUNK=str(CHUNK),
        LOG_LEVEL="WARNING",
    )
    worker = CeleryWorker(directory, env, name="bench", pool="prefork", concurrency=processes)
    beat: subprocess.Popen[bytes] | None = None
    client = redis.Redis.from_url(server.url)
    try:
        worker.start(timeout=60)
        beat = _beat(directory, env)
        now = datetime.now(UTC)
        collector = CollectorStore(client).create(CollectorConfig(name="bench"), now)
        store = SourceStore(client, SecretBox(TEST_SECRETS_KEY))
        celery = create_celery(Settings(redis_url=server.url))
        before, began = _calls(sim), time.perf_counter()
        for index in range(sources):
            config = SourceConfig(name=f"bench-{index}", client_id=CLIENT_ID, data_collection=COLLECTIONS)
            source = store.create(collector.id, config, CLIENT_SECRET, now)
            celery.send_task("tasks.lifecycle.start_source", args=[source.id, source.status.generation])
        counters = Counters(client)
        forwarded = 0
        while forwarded < target:
            time.sleep(0.2)
            forwarded = sum(counters.read(RECORDS_FORWARDED).values())
            if time.perf_counter() - began > 1800:
                raise TimeoutError(f"only {forwarded} of {target} records forwarded in 30 minutes")
        return Figures(forwarded, time.perf_counter() - began, _calls(sim) - before)
    finally:
        if beat is not None:
            beat.send_signal(signal.SIGTERM)
            beat.wait(timeout=30)
        worker.stop(timeout=60)
        client.close()
        server.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("collection: a backlog drained from the simulator to the file destination")
        sim = _simulator(root / "sim1", scale=1, latency_ms=0)
        try:
            expected = _expected(sim)
            total = sum(expected.values())
            print("backlog: " + ", ".join(f"{c} {n:,}" for c, n in expected.items()) + f" = {total:,}")
            # The simulator builds records and files on first use; both runs read a warm simulator.
            cold = plain_loop(sim, root / "warm-up.ndjson")
            print(f"warm-up pass (plain loop, cold simulator): {cold.rate:,.0f} rec/s")
            celery = celery_drain(root / "celery", sim, processes=2, sources=1, target=total)
            plain = plain_loop(sim, root / "plain.ndjson")
        finally:
            sim.stop()
        header = ("run", "records", "seconds", "rec/s", "calls/10k rec")
        print("{:<40}{:>10}{:>9}{:>10}{:>15}".format(*header))
        for name, figures in (
            ("celery: 1 worker x 2 processes, redis", celery),
            ("plain loop: 1 process", plain),
        ):
            print(
                f"{name:<40}{figures.records:>10,}{figures.seconds:>9.1f}{figures.rate:>10,.0f}"
                f"{figures.calls_per_10k:>15.1f}"
            )
        print(f"celery / plain loop: {celery.rate / plain.rate:.2f}x")
        sys.stdout.flush()

        print("\nwith 100 ms latency per Mimecast call: 4 sources (16 streams), the same amount of data")
        sim = _simulator(root / "sim2", scale=4, latency_ms=100)
        try:
            per_source = sum(_expected(sim).values())
            plain_loop(sim, root / "warm-up-2.ndjson")
            print(f"backlog: {per_source:,} records per source, {4 * per_source:,} in all")
            print(
                "{:<24}{:>10}{:>9}{:>10}{:>10}".format(
                    "worker processes", "records", "seconds", "rec/s", "speed-up"
                )
            )
            base = None
            for processes in (1, 4, 8):
                figures = celery_drain(
                    root / f"latency-{processes}", sim, processes=processes, sources=4, target=4 * per_source
                )
                base = base or figures.rate
                print(
                    f"{processes:<24}{figures.records:>10,}{figures.seconds:>9.1f}{figures.rate:>10,.0f}"
                    f"{figures.rate / base:>9.1f}x"
                )
                sys.stdout.flush()
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
