"""The router sink: a batch goes to every destination of its collector, or to the default."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from core.errors import FirstPartyGenericError
from core.sinks.contract import MISCONFIGURED, UNAVAILABLE, UNREACHABLE, Batch, Sink
from core.sinks.memory import MemorySink
from core.sinks.routing import DEFAULT, Outcome, Resolved, RouterSink
from tests.unit.sinks.builders import batch


class Outcomes:
    def __init__(self) -> None:
        self.seen: list[Outcome] = []

    def record(self, outcome: Outcome) -> None:
        self.seen.append(outcome)


class World:
    """Collectors' routes and destinations in memory; each destination a MemorySink."""

    def __init__(self, routes: tuple[str, ...]) -> None:
        self.routes = routes
        self.versions: dict[str, int] = {"splunk": 1, "archive": 1}
        self.sinks: dict[tuple[str, int], MemorySink] = {}
        self.default = MemorySink()
        self.report = Outcomes()
        self.router = RouterSink(
            self.default,
            routes=lambda _: self.routes,
            resolve=self.resolve,
            open_sink=self.open,
            report=self.report,
        )

    def resolve(self, name: str) -> Resolved:
        if name not in self.versions:
            raise LookupError(name)
        return Resolved(f"id-{name}", name, "memory", self.versions[name], {"token": "sekrit"})

    def open(self, target: Resolved) -> Sink:
        return self.sinks.setdefault((target.name, target.version), MemorySink())

    def sink(self, name: str) -> MemorySink:
        return self.sinks[(name, self.versions[name])]


def test_a_collector_without_destinations_writes_to_the_default() -> None:
    world = World(())
    world.router.write(batch(3))
    assert list(world.default.batches) == ["batch-1"]
    assert world.sinks == {}
    assert [(o.name, o.records, o.code) for o in world.report.seen] == [(DEFAULT, 3, None)]


def test_a_batch_goes_to_every_destination_of_the_collector() -> None:
    world = World(("splunk", "archive"))
    world.router.write(batch(2))
    assert list(world.sink("splunk").batches) == ["batch-1"]
    assert list(world.sink("archive").batches) == ["batch-1"]
    assert world.default.batches == {}
    assert [(o.name, o.code) for o in world.report.seen] == [("splunk", None), ("archive", None)]


def test_one_failing_destination_fails_the_write_after_the_others_took_it_and_a_retry_completes() -> None:
    # Given the first destination down
    world = World(("splunk", "archive"))
    world.router.write(batch(1, "batch-0"))
    world.sink("splunk").down = True
    # When a batch is written, Then the write fails naming the destination...
    with pytest.raises(FirstPartyGenericError) as caught:
        world.router.write(batch(2))
    assert caught.value.code == UNREACHABLE
    assert "'splunk'" in caught.value.summary
    assert "sekrit" not in str(caught.value)
    # ...the other destination still has it, and the failure is reported with its kind
    assert "batch-1" in world.sink("archive").batches
    assert [(o.name, o.code) for o in world.report.seen][-2:] == [("splunk", UNREACHABLE), ("archive", None)]
    # And once it is back, the retry delivers to both, the second once
    world.sink("splunk").down = False
    world.router.write(batch(2))
    assert list(world.sink("splunk").batches) == ["batch-0", "batch-1"]
    assert list(world.sink("archive").batches) == ["batch-0", "batch-1"]


def test_several_failures_are_one_error_counting_the_others() -> None:
    world = World(("splunk", "archive"))
    world.router.write(batch(1, "batch-0"))
    world.sink("splunk").fail_next(status=503)
    world.sink("archive").down = True
    with pytest.raises(FirstPartyGenericError) as caught:
        world.router.write(batch(2))
    assert (caught.value.code, caught.value.status) == (UNAVAILABLE, 503)
    assert "and 1 more destination(s) failing" in caught.value.summary


def test_a_destination_that_no_longer_exists_is_a_retryable_misconfiguration() -> None:
    world = World(("gone",))
    with pytest.raises(FirstPartyGenericError) as caught:
        world.router.write(batch(1))
    assert (caught.value.code, caught.value.retryable) == (MISCONFIGURED, True)
    assert "'gone'" in caught.value.summary


def test_a_changed_destination_gets_a_new_sink_and_the_old_one_is_closed() -> None:
    world = World(("splunk",))
    world.router.write(batch(1, "batch-0"))
    first = world.sink("splunk")
    world.versions["splunk"] = 2
    world.router.write(batch(1, "batch-1"))
    assert list(world.sink("splunk").batches) == ["batch-1"]
    assert list(first.batches) == ["batch-0"]


def test_a_sink_that_cannot_be_opened_is_a_misconfiguration_naming_the_destination() -> None:
    def refuse(target: Resolved) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "/etc/ca.pem")

    router = RouterSink(
        MemorySink(),
        routes=lambda _: ("splunk",),
        resolve=World(()).resolve,
        open_sink=refuse,
        report=Outcomes(),
    )
    with pytest.raises(FirstPartyGenericError) as caught:
        router.write(batch(1))
    assert caught.value.code == MISCONFIGURED
    assert "memory destination 'splunk' cannot be opened" in caught.value.summary


class HeldSink(MemorySink):
    """A destination whose writes can be held (a slow receiver), and that knows if it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.hold.set()
        self.writing = threading.Event()
        self.closed = 0

    def write(self, batch: Batch) -> None:
        self.writing.set()
        assert self.hold.wait(10)
        assert not self.closed, "written after it was closed"
        super().write(batch)

    def close(self) -> None:
        self.closed += 1


def test_a_destination_updated_under_a_write_closes_its_old_sink_when_that_write_ends() -> None:
    # Under Celery's threads pool, one thread's write may still hold the sink of a destination's
    # previous version when another thread's write finds the destination updated.
    opened: list[HeldSink] = []
    versions = {"splunk": 1}

    def open_sink(target: Resolved) -> Sink:
        opened.append(HeldSink())
        return opened[-1]

    router = RouterSink(
        MemorySink(),
        routes=lambda _: ("splunk",),
        resolve=lambda name: Resolved("id-splunk", name, "memory", versions[name], {}),
        open_sink=open_sink,
        report=Outcomes(),
    )
    router.write(batch(1, "batch-1"))
    old = opened[0]
    old.hold.clear()
    slow = threading.Thread(target=router.write, args=(batch(1, "batch-2"),))
    slow.start()
    assert old.writing.wait(10)
    versions["splunk"] = 2  # updated while batch-2 is being written through version 1
    router.write(batch(1, "batch-3"))
    assert len(opened) == 2
    assert list(opened[1].batches) == ["batch-3"]
    assert old.closed == 0  # batch-2 still holds it
    old.hold.set()
    slow.join(10)
    assert list(old.batches) == ["batch-1", "batch-2"]
    assert old.closed == 1
    router.close()
    assert (old.closed, opened[1].closed) == (1, 1)


def test_writes_that_find_a_destination_updated_at_once_open_its_new_version_once() -> None:
    opened: list[Resolved] = []
    both = threading.Barrier(2, timeout=1)

    def open_sink(target: Resolved) -> Sink:
        opened.append(target)
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait()  # a second opener, if one can come in meanwhile, meets this one here
        return MemorySink()

    router = RouterSink(
        MemorySink(),
        routes=lambda _: ("splunk",),
        resolve=lambda name: Resolved("id-splunk", name, "memory", 1, {}),
        open_sink=open_sink,
        report=Outcomes(),
    )
    writers = [threading.Thread(target=router.write, args=(batch(1, f"batch-{n}"),)) for n in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(10)
    assert len(opened) == 1
