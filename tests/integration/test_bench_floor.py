"""The floor of P1's duties (`bench.floor`) does what the pipeline owes each record, no less: against
a real simulator, with two processes, every record lands exactly once, and each line is the line
the product itself writes for that record (its id, log type, metadata and envelope)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench import floor
from bench.backlog import LAYOUT, Truth, check_destination, frozen_backlog
from core.mimecast.records import record_id, record_kind
from core.mimecast.streams import spec_for
from core.sinks.contract import Batch, Message
from core.sinks.encoding import ndjson_line
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

MESSAGE = b',"message":'


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    sim = frozen_backlog(tmp_path_factory.mktemp("floor-sim"), 8_000)
    try:
        yield sim
    finally:
        sim.stop()


def test_two_floor_processes_deliver_every_record_exactly_once(
    backlog: SimulatorProcess, tmp_path: Path
) -> None:
    truth = Truth.of(backlog)
    drained = floor.drain(backlog.url, CLIENT_ID, CLIENT_SECRET, tmp_path, processes=2)
    delivery = check_destination(tmp_path, truth)
    assert delivery.exactly_once, delivery.describe(truth)
    assert drained.records == truth.total
    assert drained.skipped == 0
    assert set(truth.ids) == {path.parts[-3] for path in tmp_path.glob(LAYOUT)}  # all four collections


def test_each_line_is_the_line_the_product_writes_for_its_record(
    backlog: SimulatorProcess, tmp_path: Path
) -> None:
    floor.drain(backlog.url, CLIENT_ID, CLIENT_SECRET, tmp_path, processes=1)
    metadata = orjson.loads(floor.METADATA)
    checked: dict[str, int] = {}
    for path in tmp_path.glob(LAYOUT):
        collection = path.parts[-3]
        spec = spec_for(collection)
        batch = Batch(id="b", source_id=floor.SOURCE_ID, collector="bench", source="bench",
                      collection=collection, messages=())  # fmt: skip
        for line in path.read_bytes().splitlines(keepends=True):
            text = line[line.index(MESSAGE) + len(MESSAGE) : -2]
            raw = orjson.loads(text)
            ours = Message(record_id(spec, raw), record_kind(spec, raw), metadata, text.decode())
            assert line.decode() == ndjson_line(batch, ours)
            checked[collection] = checked.get(collection, 0) + 1
    assert set(checked) == {"siem", "dlp", "auditEvent", "holdMessageList"}
    assert all(count > 0 for count in checked.values())
