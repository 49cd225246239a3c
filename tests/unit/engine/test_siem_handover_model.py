"""Every SIEM event exactly once across switches between batch files and streaming, for both readings
of the batch files' timing (15-minute or hourly periods, published 10 to 20 minutes after them).

A small model of Mimecast and of the pipeline drives the real decisions (`siem_mode.plan`,
`siem_mode.listed`) and the real batch bounds (`paging.in_bounds`): batch files hold the events of
their period and appear a delay after it; a listing returns what was published since its token;
streaming returns the events timed in a window ending a minute before now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from core.engine import siem_mode
from core.engine.siem_mode import Limits, Quota, Reading
from core.mimecast import paging
from core.mimecast.records import to_record
from core.mimecast.streams import SIEM_BATCH
from core.models import BatchCursor, Cursor, SiemMode, WindowCursor

START = datetime(2026, 11, 25, 9, 7, tzinfo=UTC)  # when the source is created
BACKLOG = timedelta(hours=30)
STEP = timedelta(minutes=5)  # the poll interval of the model
RUN = timedelta(hours=8)
LIMITS = Limits()
AUTO, BATCH, STREAMING = SiemMode.AUTO, SiemMode.BATCH, SiemMode.STREAMING
TIMINGS = [(15, 10), (15, 20), (60, 10), (60, 20)]  # (period, delay) in minutes


def event_times() -> list[datetime]:
    first = START - BACKLOG
    return [
        first + timedelta(minutes=n, seconds=17) for n in range(int((BACKLOG + RUN) / timedelta(minutes=1)))
    ]


@dataclass(frozen=True)
class File:
    start: datetime
    end: datetime
    published: datetime


class Mimecast:
    """Batch files of `period` minutes published `delay` minutes after them; streaming by time."""

    def __init__(self, period: int, delay: int) -> None:
        self.times = event_times()
        length = timedelta(minutes=period)
        first = datetime.combine((START - BACKLOG).date(), time.min, tzinfo=UTC)
        self.files = []
        moment = first
        while moment < START + RUN:
            self.files.append(File(moment, moment + length, moment + length + timedelta(minutes=delay)))
            moment += length
        self.files.sort(key=lambda file: file.published)

    def listing(self, cursor: BatchCursor, now: datetime) -> tuple[list[File], str]:
        """Files published by now after the token (or from the day asked), and the next token."""
        if cursor.token is not None:
            day_text, index_text = cursor.token.split("|")
            day, index = datetime.fromisoformat(day_text), int(index_text)
        else:
            assert cursor.start_date is not None
            day, index = datetime.combine(cursor.start_date, time.min, tzinfo=UTC), 0
        published = [file for file in self.files if file.published <= now and file.start >= day]
        return published[index:], f"{day.isoformat()}|{len(published)}"

    def records(self, file: File) -> list[datetime]:
        return [moment for moment in self.times if file.start <= moment < file.end]


def run(mimecast: Mimecast, mode_at: Callable[[timedelta], SiemMode]) -> Counter[datetime]:
    delivered: Counter[datetime] = Counter()
    cursor: Cursor | None = None
    now = START
    while now < START + RUN:
        plan = siem_mode.plan(mode_at(now - START), cursor, now, LIMITS, Quota(), 0, START - BACKLOG)
        cursor = plan.cursor
        if plan.reading is Reading.STREAMING:
            assert isinstance(cursor, WindowCursor)
            low, end = siem_mode.edge_of(cursor), (now - timedelta(minutes=1)).replace(microsecond=0)
            delivered.update(moment for moment in mimecast.times if low <= moment < end)
            cursor = WindowCursor(start=end - timedelta(seconds=1), edge=end)
        elif plan.reading is Reading.BATCH:
            assert isinstance(cursor, BatchCursor)
            files, token = mimecast.listing(cursor, now)
            for file in files:  # each a child carrying the stream's bounds
                records = tuple(
                    to_record(SIEM_BATCH, {"aggregateId": moment.isoformat(), "timestamp": _ms(moment)})
                    for moment in mimecast.records(file)
                )
                kept = paging.in_bounds(SIEM_BATCH, records, cursor)
                delivered.update(datetime.fromtimestamp(r.raw["timestamp"] / 1000, UTC) for r in kept)
            listed = replace(cursor, token=token, start_date=None, caught_up=True, files=())
            cursor = siem_mode.listed(listed, now, LIMITS)
        now += STEP
    return delivered


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


SCENARIOS: dict[str, Callable[[timedelta], SiemMode]] = {
    "auto all along": lambda _: AUTO,
    "streaming all along": lambda _: STREAMING,
    "batch, then auto (a handover fixed at a caught-up listing)": lambda t: (
        BATCH if t < timedelta(hours=2) else AUTO
    ),
    "auto, batch during the handover (undone), auto again": lambda t: (
        BATCH if timedelta(minutes=70) <= t < timedelta(hours=3) else AUTO
    ),
    "auto, then batch from streaming, then auto": lambda t: (
        BATCH if timedelta(hours=3) <= t < timedelta(hours=4) else AUTO
    ),
    "batch, auto, batch at once after the point is fixed (undone once settled), auto": lambda t: (
        AUTO if timedelta(hours=1) <= t < timedelta(minutes=65) or t >= timedelta(hours=5) else BATCH
    ),
    "streaming, batch (by day), streaming again": lambda t: (
        BATCH if timedelta(hours=2) <= t < timedelta(hours=3) else STREAMING
    ),
}


@pytest.mark.parametrize(("period", "delay"), TIMINGS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_event_is_delivered_once_across_every_switch(period: int, delay: int, scenario: str) -> None:
    mimecast = Mimecast(period, delay)
    delivered = run(mimecast, SCENARIOS[scenario])

    twice = [moment for moment, count in delivered.items() if count > 1]
    assert not twice, twice[:3]
    # Everything old enough to be in a published file, or in a streaming window, has arrived.
    settled = START + RUN - timedelta(minutes=period + delay) - 2 * STEP
    lost = [moment for moment in mimecast.times if moment < settled and moment not in delivered]
    assert not lost, (len(lost), lost[:3])


def test_the_model_streams_at_the_end_of_an_auto_run() -> None:
    """The handover really happens within the run (so the test above covers it)."""
    mimecast = Mimecast(15, 20)
    cursor = siem_mode.plan(AUTO, None, START, LIMITS, Quota(), 0, START - BACKLOG).cursor
    assert isinstance(cursor, BatchCursor)
    assert cursor.handover is not None
    delivered = run(mimecast, SCENARIOS["auto all along"])
    newest = max(delivered)
    assert newest > START + RUN - timedelta(minutes=10)  # streaming freshness, not batch's
