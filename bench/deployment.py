"""The deployed pipeline, as `docker compose` runs it, for one drain of a backlog.

A private redis-server (AOF fsynced every second, no eviction: the compose file's Redis), the
management API, one Celery worker of N prefork processes, one beat, the file destination; the
simulator runs apart. The product is driven through its public surfaces only: settings in the
environment, a collector and a source created with the management API, the destination read from
disk. So the benchmark keeps working whatever the engine inside looks like.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil
import redis

from bench.backlog import COLLECTIONS, DestinationWatch
from tests.support.api_server import ApiServer
from tests.support.celery_worker import CeleryWorker, base_env
from tests.support.redis_server import RedisServer
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET

# Settings that differ from the defaults, and why: beat every 0.5 s rather than 5 s so a short run
# does not wait for its first dispatch; a caught-up stream polled again after 5 s; WARNING logs.
# `--env NAME=VALUE` adds or overrides any setting (for example a new engine's).
BENCH_SETTINGS = {
    "DISPATCH_INTERVAL_SECONDS": "0.5",
    "POLL_INTERVAL_SECONDS": "5",
    "LOG_LEVEL": "WARNING",
}
STALL_SECONDS = 90.0  # no new batch file for this long: the drain is reported as it stands


@dataclass(frozen=True)
class Drain:
    """One drain of a backlog: the records delivered and the time from source creation to the last."""

    records: int
    seconds: float
    complete: bool

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class Deployment:
    """Every process of one deployment, started on entry and stopped on exit."""

    def __init__(
        self,
        directory: Path,
        mimecast_url: str,
        processes: int,
        settings: dict[str, str],
        pool: str = "prefork",
    ) -> None:
        """One worker of `processes` pool processes (`pool` prefork), or threads (`pool` threads)."""
        self.directory = directory
        self.destination = directory / "destination"
        self.redis_server = RedisServer(directory / "redis")
        self.env = base_env(
            self.redis_server.url,
            mimecast_url,
            SINK_URL=f"file://{self.destination}",
            **{**BENCH_SETTINGS, **settings},
        )
        self.api = ApiServer(directory, self.env)
        self.worker = CeleryWorker(directory, self.env, name="bench", pool=pool, concurrency=processes)
        self.beat: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Deployment:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self.redis_server.start()
            client = redis.Redis.from_url(self.redis_server.url)
            client.config_set("appendfsync", "everysec")  # as docker-compose.yml runs it
            client.close()
            self.api.start()
            self.worker.start(timeout=120)
            args = [sys.executable, "-m", "celery", "-A", "worker", "beat"]
            args += ["--schedule", str(self.directory / "beat-schedule")]
            with (self.directory / "beat.log").open("ab") as log:
                self.beat = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
            self._wait_for_beat()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_beat(self, timeout: float = 120.0) -> None:
        """Until the worker has run a `dispatch` sent by beat: every process is up, as in a deployment
        that is running when a source is added (the reference loop's clock, too, starts with its
        process up). Without this wait, beat's own start (about two seconds) counted as drain time."""
        deadline = time.monotonic() + timeout
        while "tasks.dispatch.dispatch[" not in self.worker.log():
            if self.beat is not None and self.beat.poll() is not None:
                raise RuntimeError(f"celery beat exited with {self.beat.returncode}; see beat.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no dispatch from beat reached the worker in {timeout:.0f} s")
            time.sleep(0.05)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.send_signal(signal.SIGTERM)
            try:
                self.beat.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.beat.kill()
                self.beat.wait(timeout=10)
            self.beat = None
        self.worker.stop(timeout=120)
        self.api.stop()
        self.redis_server.stop()

    def _worker_processes(self) -> list[psutil.Process]:
        """The worker's main process and every pool process (none before it starts)."""
        if self.worker.process is None:
            return []
        main = psutil.Process(self.worker.process.pid)
        return [main, *main.children(recursive=True)]

    def workers_cpu(self) -> float:
        """User + system seconds of the worker so far: its main process and every pool process."""
        total = 0.0
        for each in self._worker_processes():
            try:
                times = each.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def workers_memory_mb(self) -> float:
        """The worker's memory now: the proportional set size (PSS, pages shared by forked processes
        split among them) of its main process and every pool process, in MiB."""
        total = 0
        for each in self._worker_processes():
            try:
                total += each.memory_full_info().pss
            except psutil.Error:
                continue
        return total / 2**20

    def add_source(self) -> str:
        """A collector and one source of the four collections, through the management API."""
        with self.api.client() as api:
            made = api.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": "bench"}})
            made.raise_for_status()
            body = {
                "api.version": "v1",
                "source": {
                    "config": {
                        "name": "bench",
                        "clientID": CLIENT_ID,
                        "clientSecret": CLIENT_SECRET,
                        "dataCollection": list(COLLECTIONS),
                        # SIEM from its batch files, as the plain loop reads it (`auto` would stream
                        # the backlog's last 90 minutes: another endpoint, another record shape)
                        "siemMode": "batch",
                    },
                    "schemaRef": {"type": "Mimecast"},
                    "sourceType": "Universal",
                },
            }
            created = api.post(f"/collectors/{made.json()['collector']['id']}/sources", json=body)
            created.raise_for_status()
            source_id: str = created.json()["source"]["id"]
            return source_id

    def drain(self, expected: int) -> Drain:
        """Create the source, then watch the destination until it holds `expected` lines."""
        watch = DestinationWatch(self.destination)
        began = time.time()
        self.add_source()
        while watch.poll() < expected:
            if time.monotonic() - watch.last_change > STALL_SECONDS:
                print(f"  stalled: {watch.lines:,} of {expected:,} records, no new batch file for a while")
                return Drain(watch.lines, watch.last_write - began, complete=False)
            time.sleep(0.2)
        return Drain(watch.lines, watch.last_write - began, complete=True)
