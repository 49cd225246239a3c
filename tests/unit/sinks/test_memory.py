"""memory: the in-memory twin keeps the contract, so task tests can rely on it."""

from __future__ import annotations

import pytest

from core.errors import FirstPartyGenericError
from core.sinks.contract import REJECTED, UNAVAILABLE, UNREACHABLE
from core.sinks.memory import MemorySink
from tests.unit.sinks.builders import batch


def test_it_keeps_each_batch_once_and_counts_attempts() -> None:
    sink = MemorySink()
    sink.write(batch(2, "a"))
    sink.write(batch(2, "a"))
    sink.write(batch(1, "b"))
    assert list(sink.batches) == ["a", "b"]
    assert [m.id for m in sink.messages()] == ["siem-000000", "siem-000001", "siem-000000"]
    assert sink.attempts == 3


@pytest.mark.parametrize(("status", "code"), [(503, UNAVAILABLE), (429, UNAVAILABLE), (400, REJECTED)])
def test_it_fails_the_next_writes_as_a_destination_answering_the_status_would(status: int, code: str) -> None:
    sink = MemorySink()
    sink.fail_next(2, status=status)
    for _ in range(2):
        with pytest.raises(FirstPartyGenericError) as caught:
            sink.write(batch())
        assert (caught.value.status, caught.value.code) == (status, code)
    sink.write(batch())
    assert len(sink.batches) == 1


def test_a_success_status_is_not_a_failure() -> None:
    with pytest.raises(ValueError, match="is a success"):
        MemorySink().fail_next(status=200)


def test_while_down_it_refuses_writes_and_health_checks() -> None:
    sink = MemorySink()
    sink.down = True
    with pytest.raises(FirstPartyGenericError) as caught:
        sink.write(batch())
    with pytest.raises(FirstPartyGenericError):
        sink.healthcheck()
    assert caught.value.code == UNREACHABLE
    sink.down = False
    sink.write(batch())
    sink.healthcheck()
    assert len(sink.batches) == 1
