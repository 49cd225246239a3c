"""SIEM mode against the simulator over real HTTP: the real decisions (`core.engine.siem_mode`), our
real client and fan-out read a SIEM stream through simulated hours, switching between batch files
and the streaming endpoint, and every event arrives once, for both readings of the batch files'
timing (15-minute or hourly periods) and through a fallback when streaming runs out of quota.

The simulator's clock is frozen and ours stands at the same moment (`tests.support.fetching`); each
step is one poll of the stream, then both clocks move on by the poll interval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta

import pytest

from core.engine import fanout, siem_mode
from core.engine.siem_mode import Limits, Quota, Reading
from core.engine.units import Unit
from core.errors import RateLimited
from core.mimecast.streams import SIEM_BATCH, SIEM_STREAMING
from core.models import BatchCursor, Cursor, Record, SiemMode, WindowCursor
from tests.support.fetching import Clocks, Workers, stored, truth_id
from tests.support.simulator import SimulatorProcess

SIEM = Unit("s1", "siem")
POLL = timedelta(minutes=5)
LIMITS = Limits()
AUTO, BATCH = SiemMode.AUTO, SiemMode.BATCH
BACKLOG = {"backlog_hours": 26, "collection_rates": {"siem": 2}, "clock_frozen": True}


class Stream:
    """One SIEM stream, polled as `tasks/fetch.py` polls it: plan, then read what the plan says."""

    def __init__(self, workers: Workers, clocks: Clocks) -> None:
        self.workers, self.clocks = workers, clocks
        self.cursor: Cursor | None = None
        self.records: list[Record] = []
        self.paused: datetime | None = None
        self.warnings: list[str] = []
        self.readings: list[Reading] = []

    def poll(self, mode: SiemMode) -> None:
        now = self.clocks.now
        plan = siem_mode.plan(mode, self.cursor, now, LIMITS, Quota(self.paused), 0, self.clocks.origin)
        self.readings.append(plan.reading)
        if plan.warning is not None:
            self.warnings.append(plan.warning)
        self.cursor = stored(plan.cursor)
        if plan.reading is Reading.STREAMING:
            self._stream()
        elif plan.reading is Reading.BATCH:
            self._list()

    def _stream(self) -> None:
        fetcher = self.workers.fetcher()
        try:
            with closing(fetcher.pages(SIEM_STREAMING, self.cursor)) as pages:  # type: ignore[arg-type]
                for page in pages:  # each committed after its records are delivered
                    self.records += page.records
                    self.cursor = stored(page.end)
        except RateLimited as error:
            self.paused = self.clocks.now + timedelta(seconds=error.wait_seconds)

    def _list(self) -> None:
        fetcher = self.workers.fetcher()
        while True:
            cursor = self.cursor
            assert isinstance(cursor, BatchCursor)
            listing = fetcher.listing(SIEM_BATCH, cursor)
            adoption = fanout.files_of(SIEM, cursor, listing, most=200_000, spread=4)
            for child in adoption.children:  # every child finishes before the next poll
                with closing(fetcher.pages(SIEM_BATCH, child.cursor)) as pages:
                    for page in pages:
                        self.records += page.records
            self.cursor = stored(siem_mode.listed(adoption.cursor, self.clocks.now, LIMITS))
            if not listing.files or listing.cursor.caught_up:
                return

    def run(self, hours: float, mode_at: Callable[[timedelta], SiemMode]) -> None:
        started = self.clocks.now
        while True:
            self.poll(mode_at(self.clocks.now - started))
            if self.clocks.now - started >= timedelta(hours=hours):
                return  # the last poll saw the present: the ground truth of now is comparable
            self.clocks.advance(POLL.total_seconds())


def expected(sim: SimulatorProcess, clocks: Clocks) -> set[str]:
    """Every SIEM event old enough to be in a published file or in a streaming window read by the
    last poll (now: its window ends a minute before, and opens once it is a minute long)."""
    until = str(int((clocks.now - timedelta(minutes=2)).timestamp() * 1000))
    return set(sim.truth("siem", via="batch")) | set(sim.truth("siem", via="streaming", until=until))


def once(stream: Stream) -> Counter[str]:
    counted = Counter(truth_id(record) for record in stream.records)
    assert not [key for key, count in counted.items() if count > 1], "a SIEM event was delivered twice"
    return counted


@pytest.mark.parametrize(
    ("period", "lag", "jitter"),
    [(15, 10, 10), (60, 10, 10)],  # the two readings of the batch timing: 35 and 80 minutes at worst
)
@pytest.mark.parametrize(
    "schedule",
    [
        pytest.param(lambda _: AUTO, id="auto"),
        pytest.param(
            lambda t: BATCH if timedelta(hours=1) <= t < timedelta(hours=2) else AUTO, id="auto-batch-auto"
        ),
    ],
)
def test_every_event_arrives_once_through_batch_files_a_handover_and_streaming(
    start_simulator: Callable[..., SimulatorProcess],
    period: int,
    lag: int,
    jitter: int,
    schedule: Callable[[timedelta], SiemMode],
) -> None:
    sim = start_simulator(
        **BACKLOG, batch_period_minutes=period, batch_lag_minutes=lag, batch_jitter_minutes=jitter
    )
    clocks = Clocks(sim)
    with closing(Workers(sim, clocks.client)) as workers:
        stream = Stream(workers, clocks)
        stream.run(4, schedule)

        counted = once(stream)
        lacking = expected(sim, clocks) - set(counted)
        assert not lacking, f"{len(lacking)} events never arrived"
        assert Reading.BATCH in stream.readings
        assert stream.readings[-1] is Reading.STREAMING
        assert isinstance(stream.cursor, WindowCursor)
        # Older than the streaming reach: from batch files (Kafka coordinates), the rest streamed.
        shapes = Counter("_partition" in record.raw for record in stream.records)
        assert shapes[True] > 0
        assert shapes[False] > 0


def test_auto_falls_back_to_batch_files_when_streaming_runs_out_of_quota_and_loses_nothing(
    start_simulator: Callable[..., SimulatorProcess],
) -> None:
    """Two streaming calls an hour: the handover's stretch needs more, the 429's reset would leave
    the stream far behind, so it reads batch files again (and says so), exactly once."""
    sim = start_simulator(**BACKLOG, quota_streaming=[2, 3600])
    clocks = Clocks(sim)
    with closing(Workers(sim, clocks.client)) as workers:
        stream = Stream(workers, clocks)
        while not stream.warnings and len(stream.readings) < 24:
            stream.poll(AUTO)
            clocks.advance(POLL.total_seconds())

        assert len(stream.warnings) == 1, stream.readings
        assert "cannot keep up within its quota" in stream.warnings[0]
        assert Reading.STREAMING in stream.readings
        assert stream.readings[-1] is Reading.BATCH
        assert isinstance(stream.cursor, BatchCursor)
        assert stream.cursor.streaming_after is not None
        shown = siem_mode.progress(AUTO, stream.cursor, clocks.now)
        assert "could not keep up within its quota" in shown["note"]
        stream.run(0.75, lambda _: AUTO)  # within the hold: batch files only
        assert set(stream.readings[-10:]) == {Reading.BATCH}
        # Batch files carried on from the streaming edge: nothing lost, nothing twice.
        counted = once(stream)
        published = set(sim.truth("siem", via="batch"))
        assert not published - set(counted)
