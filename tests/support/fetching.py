"""Our real Mimecast client pointed at a simulator process, and what tests compare it with.

The simulator's clock is frozen and the client's `ManualClock` stands at the same moment, so a
listing, a window and the ground truth all see one instant; `Clocks.advance` moves both.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from core.clock import ManualClock
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient
from core.mimecast.fetcher import Fetcher, ListingCache
from core.mimecast.streams import PagingKind, StreamSpec
from core.mimecast.windows import initial_cursor
from core.models import Credentials, Cursor, Page, Record, WindowCursor, cursor_from_json, cursor_to_json
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

CREDENTIALS = Credentials(CLIENT_ID, CLIENT_SECRET)
# httpx builds a TLS context for every client (~40 ms); these speak plain HTTP on loopback.
TLS = ssl.create_default_context()


def sim_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Clocks:
    """The simulator's frozen clock and the client's manual clock, kept at one moment."""

    sim: SimulatorProcess
    client: ManualClock = field(init=False)

    def __post_init__(self) -> None:
        frozen = self.sim.control.post("/_sim/clock/freeze")
        frozen.raise_for_status()
        self.client = ManualClock(sim_time(frozen.json()["now"]))

    @property
    def now(self) -> datetime:
        return self.client.now()

    @property
    def origin(self) -> datetime:
        """The oldest record of the simulator's backlog."""
        return sim_time(self.sim.state()["origin"])

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)
        self.client.advance(seconds)


@dataclass
class Connection:
    """One worker's view of Mimecast: a client, its token flow and a Fetcher."""

    client: MimecastClient
    fetcher: Fetcher

    def close(self) -> None:
        self.client.close()


def connect(
    sim: SimulatorProcess,
    clock: ManualClock,
    *,
    credentials: Credentials = CREDENTIALS,
    chunk_records: int = 5000,
    timeout: float = 30.0,
    listings: ListingCache | None = None,
) -> Connection:
    """A fresh client on the simulator: its own connection pool, token cache and listing cache."""
    client = MimecastClient(
        sim.url, clock, timeout=httpx.Timeout(timeout), transport=httpx.HTTPTransport(verify=TLS)
    )
    flow = TokenFlow(MemoryTokenCache(clock), client.request_token, clock)
    reader = BatchFileReader(client, max_records=chunk_records)
    return Connection(client, Fetcher(Session(client, flow, credentials), reader, clock, listings=listings))


class Workers:
    """Connections opened by one test, all closed when it ends (even when it fails)."""

    def __init__(self, sim: SimulatorProcess, clock: ManualClock) -> None:
        self.sim = sim
        self.clock = clock
        self._open: list[Connection] = []

    def connect(self, **options: Any) -> Connection:
        connection = connect(self.sim, self.clock, **options)
        self._open.append(connection)
        return connection

    def fetcher(self, **options: Any) -> Fetcher:
        return self.connect(**options).fetcher

    def close(self) -> None:
        for connection in self._open:
            connection.close()


def start_cursor(spec: StreamSpec, clocks: Clocks) -> Cursor:
    """Where a new stream starts to read the simulator's whole backlog."""
    return initial_cursor(spec, clocks.now, since=clocks.origin)


def stored(cursor: Cursor) -> Cursor:
    """The cursor as a checkpoint store gives it back: through its JSON form."""
    return cursor_from_json(json.loads(json.dumps(cursor_to_json(cursor))))


def drain(fetcher: Fetcher, spec: StreamSpec, cursor: Cursor, limit: int | None = None) -> list[Page]:
    """Pages as a forward task commits them, each starting where the previous one ended."""
    taken: list[Page] = []
    with closing(fetcher.pages(spec, cursor)) as pages:
        for page in pages:
            assert page.start == (taken[-1].end if taken else cursor)
            assert stored(page.end) == page.end
            taken.append(page)
            if limit is not None and len(taken) >= limit:
                break
    return taken


def resume(
    sim: SimulatorProcess,
    clock: ManualClock,
    spec: StreamSpec,
    cursor: Cursor,
    limit: int | None = None,
    **options: Any,
) -> list[Page]:
    """A new worker (fresh client, no cached token or listing) reads on from a stored cursor."""
    connection = connect(sim, clock, **options)
    try:
        return drain(connection.fetcher, spec, stored(cursor), limit)
    finally:
        connection.close()


def truth_id(record: Record) -> str:
    """Our record in the simulator's id rule (see `simulator/truth.py`)."""
    return simulator_id(record.collection, record.raw)


# The collections whose records have no id of their own: the simulator names them by content.
BY_CONTENT = frozenset({"ttpUrl", "ttpAttachment", "archiveSearch"})


def simulator_id(collection: str, raw: dict[str, Any]) -> str:
    """A record's id in the simulator's ground truth: SIEM and Cloud Integrated `aggregateId:type`,
    DLP `messageId`, release logs `id|released`, id-less logs a hash of their canonical JSON, else `id`."""
    if collection in ("siem", "cloudIntegrated"):
        return f"{raw['aggregateId']}:{raw.get('type') or raw.get('eventType')}"
    if collection == "dlp":
        return str(raw["messageId"])
    if collection == "holdReleaseLog":
        return f"{raw['id']}|{raw['released']}"
    if collection in BY_CONTENT:
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return str(raw["id"])


def truth_ids(pages: Iterable[Page]) -> list[str]:
    return [truth_id(record) for page in pages for record in page.records]


def truth(sim: SimulatorProcess, spec: StreamSpec, until: datetime | None = None) -> Counter[str]:
    """The simulator's ground truth for the collection `spec` reads, as a multiset."""
    params: dict[str, str] = {}
    if spec.paging is PagingKind.STREAMING:
        params["via"] = "streaming"
    if until is not None:
        params["until"] = until.isoformat()
    return Counter(sim.truth(spec.collection.value, **params))


# The routes whose window includes its end (spec-more 2.1, 11): a record at the end is read.
INCLUSIVE_END = frozenset(
    {"ttpUrl", "ttpAttachment", "ttpImpersonation", "archiveSearch", "holdReleaseLog"}
    | {"threatIntelCustomer", "threatIntelGrid"}
)


def read_up_to(spec: StreamSpec, pages: list[Page], fallback: Cursor) -> datetime | None:
    """The end of the last window read: records from there on are for a later window (and, on the
    routes whose window includes its end, records at the end itself were read)."""
    end = pages[-1].end if pages else fallback
    if isinstance(end, WindowCursor):
        moment = end.reached if end.end is None else end.start
        return moment + timedelta(milliseconds=1) if spec.collection.value in INCLUSIVE_END else moment
    return None
