"""One rate budget per client id and endpoint against the simulator's quota: with the budget shared
in a real Redis, two workers on one client id calling as fast as they may never meet a 429, and
the last calls of each window are spread up to the reset. Both unconfirmed readings of the headers
(`X-RateLimit-Reset` as ms to wait or as an epoch second; the headers on every answer or only on a
429) are served by the simulator."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from core.clock import SystemClock
from core.errors import RateLimited
from core.mimecast import paging, windows
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.client import MimecastClient
from core.mimecast.paced import PacedCaller
from core.mimecast.pacing import Paced
from core.mimecast.streams import DLP
from core.models import Request
from core.store.throttle import Throttle
from tests.support.fetching import CREDENTIALS, TLS
from tests.support.redis_server import RedisServer
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.timeout(60)
LIMIT, WINDOW = 8, 3  # calls per window of seconds, per client id and route


@dataclass
class Worker:
    """One worker process's view: its own HTTP client and token cache, the shared Redis budget."""

    client: MimecastClient
    session: Session
    due: float = 0.0


class SimulatedTime(SystemClock):
    """Our clock set to the simulator's: after a reset its clock stands where the session began,
    and an epoch reset time is read against the clock of whoever sent it (Mimecast's, in life)."""

    def __init__(self, sim: SimulatorProcess) -> None:
        stated = datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00")).timestamp()
        self.offset = stated - time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def simulator(start_simulator: Callable[..., SimulatorProcess]) -> SimulatorProcess:
    """A simulator of its own: the session's may have spent this client's quota on the route, or
    stand at another moment, in an earlier test; these tests time calls against a fresh quota."""
    return start_simulator()


@pytest.fixture
def budgets(redis_server: RedisServer) -> Iterator[Throttle]:
    client = redis.Redis.from_url(redis_server.url)
    yield Throttle(client)
    client.close()


def dlp_request(now: datetime) -> Request:
    cursor = windows.initial_cursor(DLP, now, since=now - timedelta(minutes=30))
    opened = windows.open_window(DLP, cursor, now)
    assert opened is not None
    return paging.window_request(DLP, opened[0])


def run(
    sim: SimulatorProcess, budgets: Throttle, seconds: float, refused: list[float] | None = None
) -> tuple[list[float], list[float]]:
    """Two workers call the DLP route as often as the budget lets them for `seconds`; a paced one
    is due again when `Paced` says (as the fetch task reschedules its unit). The served calls'
    times and the pacing waits; a 429 raises, or is counted in `refused` when given."""
    clock = SimulatedTime(sim)
    waits: list[float] = []
    workers = []
    for _ in range(2):
        client = MimecastClient(sim.url, clock, transport=httpx.HTTPTransport(verify=TLS))
        caller = PacedCaller(
            client,
            budgets,
            clock,
            CREDENTIALS.client_id,
            share=0.5,
            on_wait=lambda _e, s, _r: waits.append(s),
        )
        flow = TokenFlow(MemoryTokenCache(clock), client.request_token, clock)
        workers.append(Worker(client, Session(caller, flow, CREDENTIALS)))
    request = dlp_request(clock.now())
    served: list[float] = []
    end = clock.time() + seconds
    try:
        while clock.time() < end:
            worker = min(workers, key=lambda one: one.due)
            time.sleep(max(worker.due - clock.time(), 0))
            try:
                worker.session.call(request)
                served.append(clock.time())
                worker.due = clock.time()
            except Paced as paced:
                worker.due = paced.until
            except RateLimited:
                if refused is None:
                    raise
                refused.append(clock.time())
                worker.due = clock.time() + WINDOW
    finally:
        for worker in workers:
            worker.client.close()
    return served, waits


def call_times(session: Session, request: Request, times: int) -> None:
    for _ in range(times):
        session.call(request)


@pytest.mark.parametrize("reset", ["ms", "epoch_seconds"])
def test_two_workers_on_one_client_id_keep_within_the_quota_and_spread_the_last_calls(
    simulator: SimulatorProcess, budgets: Throttle, reset: str
) -> None:
    # Given the simulator's DLP quota of 8 calls per 3 s, stated on every answer
    simulator.configure(quota_api=[LIMIT, WINDOW], quota_reset=reset, quota_headers="every_answer")
    # When two workers call as fast as the shared budget lets them for two and a half windows
    refused: list[float] = []
    served, waits = run(simulator, budgets, 2.5 * WINDOW, refused)
    # Then no call met a 429, but for one that a loaded machine delayed past the reset into the
    # next window (without the budget, the same load meets a 429 at once: the test below), and
    # the quota was used
    assert len(refused) <= 1, refused
    windows_used = Counter(int(at // WINDOW) for at in served)
    assert max(windows_used.values()) <= LIMIT, windows_used
    full = [count for window, count in windows_used.items() if window != min(windows_used)]
    assert full, windows_used
    assert max(full) >= LIMIT - 2, windows_used  # paced, not starved
    # And the budget made the workers wait: the paced half of a window is spread, not a burst
    assert waits, "no call waited for the budget"


def test_without_pacing_the_same_load_meets_the_quota(simulator: SimulatorProcess) -> None:
    # The check above is meaningful: the same two workers without the budget get a 429 at once.
    simulator.configure(quota_api=[LIMIT, WINDOW])
    clock = SystemClock()
    with MimecastClient(simulator.url, clock, transport=httpx.HTTPTransport(verify=TLS)) as client:
        session = Session(
            client, TokenFlow(MemoryTokenCache(clock), client.request_token, clock), CREDENTIALS
        )
        request = dlp_request(datetime.now(UTC))
        with pytest.raises(RateLimited):
            call_times(session, request, LIMIT * 2)


def test_headers_only_on_a_429_leave_calls_unpaced_and_the_429_is_still_met(
    simulator: SimulatorProcess, budgets: Throttle
) -> None:
    simulator.configure(quota_api=[LIMIT, WINDOW], quota_headers="on_429")
    clock = SystemClock()
    with MimecastClient(simulator.url, clock, transport=httpx.HTTPTransport(verify=TLS)) as client:
        caller = PacedCaller(client, budgets, clock, CREDENTIALS.client_id, share=1.0)
        session = Session(
            caller, TokenFlow(MemoryTokenCache(clock), client.request_token, clock), CREDENTIALS
        )
        request = dlp_request(datetime.now(UTC))
        with pytest.raises(RateLimited) as met:
            call_times(session, request, LIMIT * 2)
    assert budgets.reading(CREDENTIALS.client_id, DLP.path).budget is None  # nothing to pace by
    assert 0 < met.value.wait_seconds <= WINDOW + 1
