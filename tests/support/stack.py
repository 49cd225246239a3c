"""A whole deployment for a test module: private Redis, simulator, Celery worker(s) and the API.

Each piece is a real process on loopback; `logs()` gathers what they wrote, for the sweeps that
prove no secret leaked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery import current_app

from tests.support.api_server import ApiServer, RecordingClient
from tests.support.celery_worker import TEST_SECRETS_KEY, CeleryWorker, base_env
from tests.support.redis_server import RedisServer
from tests.support.simulator import SimulatorProcess
from tests.support.together import together
from worker.config import create_celery
from worker.settings import Settings
from worker.wiring import Services, build

PRODUCT_EXAMPLE_SECRET = "XXXgXXXXXXXxfkNsaXXXXo8VqkXXXixRf5VlnwcXXXXXchX"


@dataclass
class Stack:
    directory: Path
    redis_server: RedisServer
    api: ApiServer
    simulator: SimulatorProcess | None = None
    workers: list[CeleryWorker] = field(default_factory=list)
    clients: list[RecordingClient] = field(default_factory=list)

    def client(self, auth: tuple[str, str] | None = None, **options: Any) -> RecordingClient:
        """An API client over the socket (admin credentials unless `auth` is given)."""
        made = self.api.client(auth=auth, **options) if auth is not None else self.api.client(**options)
        self.clients.append(made)
        return made

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url)

    def logs(self) -> str:
        texts = [self.api.log(), *(worker.log() for worker in self.workers)]
        return "\n".join(texts)

    def responses(self) -> bytes:
        return b"\n".join(seen for client in self.clients for seen in client.seen)

    def add_mimecast_client(self, client_id: str, secret: str) -> None:
        assert self.simulator is not None
        body = {
            "client_id": client_id,
            "client_secret": secret,
            "collections": ["siem", "dlp", "auditEvent", "holdMessageList"],
        }
        self.simulator.control.post("/_sim/clients", json=body).raise_for_status()

    @contextmanager
    def services(self, **settings: Any) -> Iterator[Services]:
        """The product's services in the test's own process, on this stack's Redis (`settings`
        override the defaults). A chain they start is queued on that Redis too, by a Celery app of
        its own, never on a broker the machine happens to run."""
        configured = Settings(
            _env_file=None, redis_url=self.redis_server.url, secrets_key=TEST_SECRETS_KEY, **settings
        )
        built = build(configured)
        previous, app = current_app._get_current_object(), create_celery(configured)
        app.set_current()
        try:
            yield built
        finally:
            previous.set_current()
            built.redis.close()


@contextmanager
def running_stack(directory: Path, *, workers: int = 0, simulator: bool = False) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        server = RedisServer(directory / "redis")
        sim = SimulatorProcess(directory) if simulator else None
        # Its own file destination: what the workers collect never lands in the working directory.
        env = base_env(
            server.url, sim.url if sim is not None else None, SINK_URL=f"file://{directory / 'destination'}"
        )
        started = [CeleryWorker(directory, env, name=f"w{index + 1}") for index in range(workers)]
        api = ApiServer(directory, env)
        others = [*([sim] if sim is not None else []), *started, api]
        # Redis stops last: a worker stopping hands its unacked message back to it.
        cleanup.callback(server.stop)
        cleanup.callback(lambda: together(*(each.stop for each in others)))
        server.start()
        together(*(each.start for each in others))  # each takes a second or more to be ready
        stack = Stack(directory, server, api, sim, started)
        cleanup.callback(lambda: [client.close() for client in stack.clients])
        yield stack


POLL_FIRST, POLL_MOST = 0.05, 0.2


def wait_for(check: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy; that value, or TimeoutError.

    Every 0.05 s at first, then less and less often, up to every 0.2 s: a long wait polled 20 times
    a second, each poll an API call or a read of the destination, CPU spent in the test and in the
    server it asked for an answer at most 0.15 s sooner."""
    deadline = time.monotonic() + timeout
    last = None
    pause = POLL_FIRST
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MOST)
    raise TimeoutError(f"{what} not reached within {timeout}s (last: {last!r})")


def every_value(client: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, stored bytes) for every key of every type, for sweeps."""
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            yield key, client.get(key) or b""
        elif kind == "hash":
            for name, value in client.hgetall(key).items():
                yield key, name + b"=" + value
        elif kind == "list":
            for item in client.lrange(key, 0, -1):
                yield key, item
        elif kind == "set":
            for item in client.smembers(key):
                yield key, item
        elif kind == "zset":
            for item, _ in client.zrange(key, 0, -1, withscores=True):
                yield key, item
        yield key, key
