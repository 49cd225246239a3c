"""Real `celery -A worker worker` processes for integration tests, one or several per test.

Each worker is a subprocess with its own node name and log file, pointed at a private Redis (and
the simulator) through its environment. `stop()` is a warm shutdown (SIGTERM), `kill()` a crash
(SIGKILL). Settings for crash tests (short visibility timeout ...) go in `env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

READY_MARK = "ready."
# One key for every worker and API process of a test run, so they read each other's secrets.
TEST_SECRETS_KEY = Fernet.generate_key().decode()


def base_env(redis_url: str, mimecast_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker or API process: inherited, minus any deployment settings."""
    settings = {"REDIS_URL", "SECRETS_KEY", "DEMO", "API_ACCESS_ID", "API_ACCESS_KEY", "MIMECAST_BASE_URL"}
    env = {key: value for key, value in os.environ.items() if key not in settings}
    env.update({"REDIS_URL": redis_url, "SECRETS_KEY": TEST_SECRETS_KEY, "PYTHONUNBUFFERED": "1"})
    if mimecast_url is not None:
        env["MIMECAST_BASE_URL"] = mimecast_url
    env.update(extra)
    return env


class CeleryWorker:
    """One worker process; `pool` is `solo` (one task at a time) or `threads`."""

    def __init__(
        self,
        log_dir: Path,
        env: Mapping[str, str],
        *,
        name: str = "w1",
        pool: str = "solo",
        concurrency: int = 1,
        queues: str | None = None,
    ) -> None:
        self.name = name
        self.env = dict(env)
        self.pool = pool
        self.concurrency = concurrency
        self.queues = queues
        self.log_path = log_dir / f"celery-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        args = [
            sys.executable, "-m", "celery", "-A", "worker", "worker",
            "--pool", self.pool, "--concurrency", str(self.concurrency),
            "--hostname", f"{self.name}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if self.queues:
            args += ["--queues", self.queues]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker {self.name} exited: {self.log()[-3000:]}")
            if READY_MARK in self.log()[offset:]:
                return
            time.sleep(0.05)
        raise TimeoutError(f"celery worker {self.name} not ready within {timeout}s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown: the running task finishes, unacked messages go back to the queue."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown at all."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def celery_workers(
    log_dir: Path, env: Mapping[str, str], count: int = 1, *, pool: str = "solo", concurrency: int = 1
) -> Iterator[list[CeleryWorker]]:
    """`count` workers started together and stopped afterwards, whatever happens."""
    workers = [
        CeleryWorker(log_dir, env, name=f"w{index + 1}", pool=pool, concurrency=concurrency)
        for index in range(count)
    ]
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.stop()
