"""file: the default destination writes each batch once, whole, where the layout says."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import UNREACHABLE, Batch
from core.sinks.file import FileSink, read_destination
from tests.unit.sinks.builders import batch

NOON = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir())


def test_a_batch_is_one_file_under_source_collection_and_utc_date(tmp_path: Path) -> None:
    # Given a file destination at noon UTC on 1 June
    sink = FileSink(tmp_path, clock=ManualClock(NOON))
    # When a batch is written
    sink.write(batch(3, "batch-1"))
    # Then its lines are in <root>/<source id>/<collection>/<date>/<batch id>.ndjson, beside its claim
    assert files(tmp_path) == ["src-1/siem/.batches/batch-1", "src-1/siem/2024-06-01/batch-1.ndjson"]
    assert os.readlink(tmp_path / "src-1/siem/.batches/batch-1") == "../2024-06-01/batch-1.ndjson"
    lines = (tmp_path / "src-1/siem/2024-06-01/batch-1.ndjson").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["siem-000000", "siem-000001", "siem-000002"]


def test_a_batch_written_twice_appears_once(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, clock=ManualClock(NOON))
    sink.write(batch(3))
    sink.write(batch(3))
    assert len(list(read_destination(tmp_path))) == 3


def test_a_batch_retried_after_midnight_stays_in_its_first_days_file(tmp_path: Path) -> None:
    # Given a batch written at 23:59:59 UTC
    clock = ManualClock(datetime(2024, 6, 1, 23, 59, 59, tzinfo=UTC))
    sink = FileSink(tmp_path, clock=clock)
    sink.write(batch(2))
    # When it is written again two seconds later, on the next day (its checkpoint commit had failed)
    clock.advance(2)
    sink.write(batch(2))
    # Then it still appears once, in the first day's directory
    assert files(tmp_path) == ["src-1/siem/.batches/batch-1", "src-1/siem/2024-06-01/batch-1.ndjson"]


def test_a_crash_between_claim_and_data_is_finished_on_the_claimed_day(tmp_path: Path) -> None:
    # Given a worker that claimed 1 June for the batch and died before writing its data
    claims = tmp_path / "src-1/siem/.batches"
    claims.mkdir(parents=True)
    os.symlink("../2024-06-01/batch-1.ndjson", claims / "batch-1")
    # When another worker writes the batch on 2 June
    FileSink(tmp_path, clock=ManualClock(datetime(2024, 6, 2, tzinfo=UTC))).write(batch(2))
    # Then the data lands in the claimed day's file
    assert (tmp_path / "src-1/siem/2024-06-01/batch-1.ndjson").exists()
    assert not (tmp_path / "src-1/siem/2024-06-02").exists()


def test_a_leftover_temporary_file_from_a_crash_neither_blocks_nor_shows(tmp_path: Path) -> None:
    day = tmp_path / "src-1/siem/2024-06-01"
    day.mkdir(parents=True)
    (day / ".batch-1.999.dead.tmp").write_text('{"partial":')
    FileSink(tmp_path, clock=ManualClock(NOON)).write(batch(2))
    assert len(list(read_destination(tmp_path))) == 2


def test_no_temporary_file_remains_after_a_write(tmp_path: Path) -> None:
    FileSink(tmp_path, clock=ManualClock(NOON)).write(batch(2))
    assert not [name for name in files(tmp_path) if name.endswith(".tmp")]


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    empty = Batch(id="b", source_id="s", collector="c", source="M", collection="siem", messages=())
    FileSink(tmp_path / "out").write(empty)
    assert not (tmp_path / "out").exists()


def test_an_unwritable_destination_is_a_retryable_first_party_error(tmp_path: Path) -> None:
    # Given a destination path that is a regular file, not a directory
    root = tmp_path / "out"
    root.write_text("")
    sink = FileSink(root)
    # When a batch is written, and the sink is checked
    with pytest.raises(FirstPartyGenericError) as caught:
        sink.write(batch(1))
    with pytest.raises(FirstPartyGenericError):
        sink.healthcheck()
    # Then the error says the destination and the OS reason, and is retried
    assert caught.value.code == UNREACHABLE
    assert caught.value.retryable
    assert str(root) in caught.value.summary


def test_the_health_check_makes_the_root_and_leaves_nothing_behind(tmp_path: Path) -> None:
    FileSink(tmp_path / "new" / "root").healthcheck()
    assert (tmp_path / "new" / "root").is_dir()
    assert files(tmp_path) == []


def test_reading_the_destination_gives_each_line_once_by_source_collection_date_and_batch(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOON)
    sink = FileSink(tmp_path, clock=clock)
    sink.write(batch(2, "batch-b"))
    sink.write(batch(1, "batch-a"))
    clock.advance(86_400)
    sink.write(batch(1, "batch-0"))
    assert [line["id"] for line in read_destination(tmp_path)] == [
        "siem-000000",
        "siem-000000",
        "siem-000001",
        "siem-000000",
    ]
