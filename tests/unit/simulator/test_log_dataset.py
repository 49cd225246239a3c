"""The eight further collections' minutes: deterministic, in time order, every ground-truth id once,
and the ids a reader can compute from the record it received."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime

import pytest

from simulator.dataset import Dataset
from simulator.log_dataset import LogBuilders
from simulator.settings import SimulatorSettings

COLLECTIONS = [
    "ttpUrl", "ttpAttachment", "ttpImpersonation", "archiveSearch", "holdReleaseLog", "cloudIntegrated",
    "threatIntelCustomer", "threatIntelGrid",
]  # fmt: skip
START = datetime(2024, 11, 18, 12, 0, tzinfo=UTC)


def dataset(rate: int = 60) -> Dataset:
    settings = SimulatorSettings(seed=3, events_per_minute=rate, start=START)
    return Dataset(settings, int(START.timestamp() * 1000) - 3_600_000)


def content_id(record: dict[str, object]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def reader_id(collection: str, record: dict[str, object]) -> str:
    """The id rule of `simulator/truth.py`, from the record alone."""
    if collection == "cloudIntegrated":
        return f"{record['aggregateId']}:{record['type']}"
    if collection == "holdReleaseLog":
        return f"{record['id']}|{record['released']}"
    if collection in ("ttpUrl", "ttpAttachment", "archiveSearch"):
        return content_id(record)
    return str(record["id"])


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_every_minute_is_in_time_order_with_each_truth_id_once_and_readable_from_the_record(
    collection: str,
) -> None:
    data = dataset()
    minutes = range(data.origin_minute, data.origin_minute + 30)
    rows = [row for minute in minutes for row in data.minute(collection, minute)]
    assert len(rows) >= 30 * 20
    assert [row.seq for row in rows] == sorted(row.seq for row in rows)
    assert [row.ts for row in rows] == sorted(row.ts for row in rows)
    assert len({row.id for row in rows}) == len(rows)
    assert all(reader_id(collection, row.as_dict()) == row.id for row in rows)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_the_same_seed_and_minute_give_the_same_records(collection: str) -> None:
    minute = dataset().origin_minute + 5
    assert dataset().minute(collection, minute) == dataset().minute(collection, minute)


def test_the_feeds_come_in_malware_indicator_relationship_triples_with_one_time() -> None:
    data = dataset()
    rows = list(data.minute("threatIntelGrid", data.origin_minute + 1))
    assert [row.kind for row in rows[:3]] == ["malware", "indicator", "relationship"]
    for index in range(0, len(rows), 3):
        malware, indicator, relationship = (row.as_dict() for row in rows[index : index + 3])
        assert malware["created"] == indicator["created"] == relationship["created"]
        assert relationship["source_ref"] == indicator["id"]
        assert relationship["target_ref"] == malware["id"]


def test_a_release_entry_sometimes_repeats_a_held_messages_id_at_another_time() -> None:
    data = dataset()
    rows = [
        r.as_dict()
        for m in range(data.origin_minute, data.origin_minute + 60)
        for r in data.minute("holdReleaseLog", m)
    ]
    ids = [row["id"] for row in rows]
    repeated = {item for item in ids if ids.count(item) > 1}
    assert repeated
    for item in repeated:
        times = [row["released"] for row in rows if row["id"] == item]
        assert len(set(times)) == len(times) == 2


def test_the_builders_use_only_the_random_state_they_are_given() -> None:
    builders = LogBuilders(1, "CABCD", 7, lambda rng, minute, count, step: [minute * 60_000] * count)
    first = list(builders.builders["ttpUrl"](random.Random(5), 10, 8))
    again = list(builders.builders["ttpUrl"](random.Random(5), 10, 8))
    assert first == again
