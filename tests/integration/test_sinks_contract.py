"""The destination contract, once, for every sink: file, sumo HTTP (against a real receiver),
memory, and the managed types against real servers: syslog (rsyslogd over TLS), splunkHec (a HEC
receiver with indexer acknowledgement), s3 (moto's standalone server), http (an NDJSON endpoint).

Every sink must: give back what it accepted, keep a batch once however often it is written, keep
order, take batches larger than one request, and fail with a FirstPartyGenericError (retryable,
with the status when there is one) while the destination is down or refusing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from core.clock import ManualClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import REJECTED, UNAVAILABLE, UNREACHABLE, Batch, Sink
from core.sinks.encoding import MAX_REQUEST_BYTES
from core.sinks.file import FileSink, read_destination
from core.sinks.http import HttpSink
from core.sinks.memory import MemorySink
from tests.support.destination_adapters import (
    EndpointDestination,
    HecDestination,
    S3Destination,
    SyslogDestination,
)
from tests.support.receiver import Receiver
from tests.support.tls import make_ca
from tests.unit.sinks.builders import batch

Held = list[tuple[dict[str, str], Any]]  # (metadata, record) as the destination holds them


class Destination(Protocol):
    sink: Sink

    def held(self) -> Held:
        """What the destination holds, de-duplicated as far as the destination can."""
        ...

    def go_down(self) -> None: ...

    def come_back(self) -> None: ...


class FileDestination:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sink = FileSink(root, clock=ManualClock())

    def held(self) -> Held:
        return [(line["metadata"], line["message"]) for line in read_destination(self.root)]

    def go_down(self) -> None:  # the directory is replaced by a file: nothing can be written
        self.root.rename(self.root.with_name("away"))
        self.root.write_text("")

    def come_back(self) -> None:
        self.root.unlink()
        self.root.with_name("away").rename(self.root)


class HttpDestination:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.sink = HttpSink(receiver.url)

    def held(self) -> Held:
        return [(item.metadata, item.record) for item in self.receiver.delivered()]

    def go_down(self) -> None:
        self.receiver.stop()

    def come_back(self) -> None:
        self.receiver.start()

    def answer_next(self, status: int, times: int = 1) -> None:
        self.receiver.answer(status, times)


class MemoryDestination:
    def __init__(self) -> None:
        self.sink = MemorySink()

    def held(self) -> Held:
        return [(dict(m.metadata), json.loads(m.text)) for m in self.sink.messages()]

    def go_down(self) -> None:
        self.sink.down = True

    def come_back(self) -> None:
        self.sink.down = False

    def answer_next(self, status: int, times: int = 1) -> None:
        self.sink.fail_next(times, status=status)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture(params=["file", "sumo", "memory", "syslog", "splunkHec", "s3", "http"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Destination]:
    built: Any
    if request.param == "file":
        (tmp_path / "out").mkdir()
        built = FileDestination(tmp_path / "out")
    elif request.param == "sumo":
        built = HttpDestination(request.getfixturevalue("receiver"))
    elif request.param == "syslog":
        built = SyslogDestination(tmp_path / "rsyslog", make_ca(tmp_path / "ca"))
    elif request.param == "splunkHec":
        built = HecDestination(ack=True)
    elif request.param == "s3":
        built = S3Destination()
    elif request.param == "http":
        built = EndpointDestination()
    else:
        built = MemoryDestination()
    yield built
    built.sink.close()
    if hasattr(built, "stop"):
        built.stop()


Answering = HttpDestination | MemoryDestination | HecDestination | EndpointDestination


@pytest.fixture(params=["sumo", "memory", "splunkHec", "http"])
def answering(request: pytest.FixtureRequest) -> Iterator[Answering]:
    """Destinations that answer with an HTTP status (file, syslog and s3 are tested on their own)."""
    built: Answering
    if request.param == "sumo":
        built = HttpDestination(request.getfixturevalue("receiver"))
    elif request.param == "splunkHec":
        built = HecDestination(ack=False)
    elif request.param == "http":
        built = EndpointDestination()
    else:
        built = MemoryDestination()
    yield built
    built.sink.close()
    if not isinstance(built, HttpDestination | MemoryDestination):
        built.stop()


def expected(written: Batch) -> Held:
    return [(dict(m.metadata), json.loads(m.text)) for m in written.messages]


def test_an_accepted_batch_can_be_read_back_with_its_metadata(destination: Destination) -> None:
    # Given a batch of SIEM messages of two log types
    written = batch(4, log_types=("receipt", "receipt"))
    # When it is written
    destination.sink.write(written)
    # Then the destination holds every record with its metadata
    assert destination.held() == expected(written)
    assert destination.held()[0][0]["_siemEventID"] == "receipt"


def test_a_batch_written_twice_appears_once(destination: Destination) -> None:
    written = batch(3)
    destination.sink.write(written)
    destination.sink.write(written)
    assert destination.held() == expected(written)


def test_order_within_a_batch_is_kept(destination: Destination) -> None:
    written = batch(200)
    destination.sink.write(written)
    assert [record["n"] for _, record in destination.held()] == list(range(200))


def test_a_batch_larger_than_one_request_is_accepted_whole_and_in_order(destination: Destination) -> None:
    # Given about 3 MB of messages (three requests' worth for the HTTP protocol)
    written = batch(1500, pad=2000)
    # When written; Then all of it is there, in order
    destination.sink.write(written)
    assert [record["n"] for _, record in destination.held()] == list(range(1500))


def test_while_the_destination_is_down_writes_fail_retryably_and_nothing_is_lost(
    destination: Destination,
) -> None:
    # Given a destination that took a batch (so an HTTP sink holds a pooled connection), then went down
    before = batch(2, "batch-0")
    destination.sink.write(before)
    destination.go_down()
    # When a batch is written and the sink is checked
    with pytest.raises(FirstPartyGenericError) as caught:
        destination.sink.write(batch(3))
    with pytest.raises(FirstPartyGenericError):
        destination.sink.healthcheck()
    # Then the error is a retryable FirstPartyGeneric "unreachable"
    assert (caught.value.code, caught.value.retryable) == (UNREACHABLE, True)
    assert caught.value.health_event_name == "FirstPartyGenericError"
    # And once it is back, the retried batch arrives once
    destination.come_back()
    destination.sink.healthcheck()
    destination.sink.write(batch(3))
    assert destination.held() == expected(before) + expected(batch(3))


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_busy_destination_is_a_retryable_error_with_its_status(answering: Answering, status: int) -> None:
    answering.answer_next(status)
    with pytest.raises(FirstPartyGenericError) as caught:
        answering.sink.write(batch(2))
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (status, UNAVAILABLE, True)
    answering.sink.write(batch(2))
    assert answering.held() == expected(batch(2))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_refusing_destination_is_an_error_that_names_the_status(answering: Answering, status: int) -> None:
    if isinstance(answering, HecDestination) and status in (401, 403):
        pytest.skip("HEC's 401/403 are token refusals: tests/integration/test_destination_types.py")
    answering.answer_next(status)
    with pytest.raises(FirstPartyGenericError) as caught:
        answering.sink.write(batch(2))
    assert (caught.value.status, caught.value.code) == (status, REJECTED)
    assert f"HTTP {status}" in str(caught.value)
    assert answering.held() == []


# The HTTP protocol's own promises, seen from the receiver.


def test_each_http_request_stays_under_1_mb_before_compression_and_is_gzip(receiver: Receiver) -> None:
    sink = HttpSink(receiver.url)
    sink.write(batch(1500, pad=2000))
    sink.close()
    requests = receiver.accepted()
    assert len(requests) >= 3
    for request in requests:
        assert request.headers["content-encoding"] == "gzip"
        assert sum(len(line.encode()) + 1 for line in request.lines) <= MAX_REQUEST_BYTES
        assert request.body_size < MAX_REQUEST_BYTES
    assert [r.headers["x-batch-part"] for r in requests] == [str(n) for n in range(1, len(requests) + 1)]


def test_metadata_arrives_in_x_sumo_headers(receiver: Receiver) -> None:
    sink = HttpSink(receiver.url)
    sink.write(batch(2))
    sink.close()
    headers = receiver.accepted()[0].headers
    assert (headers["x-sumo-name"], headers["x-sumo-category"], headers["x-sumo-host"]) == (
        "Mimecast",
        "mail/mimecast",
        "hosted-1",
    )
    assert headers["x-sumo-fields"] == (
        "team=mail,_siemForward=true,_siemVendor=Mimecast,_siemProduct=Mimecast,_siemFormat=JSON,_siemEventID=receipt"
    )


def test_a_retry_after_a_failed_part_resends_only_what_was_not_accepted(receiver: Receiver) -> None:
    # Given a three-part batch whose second request fails
    sink = HttpSink(receiver.url)
    written = batch(1500, pad=2000)
    receiver.answer(200)
    receiver.answer(503)
    with pytest.raises(FirstPartyGenericError):
        sink.write(written)
    # When the batch is retried by the same worker
    sink.write(written)
    sink.close()
    # Then part 1 was sent once, part 2 twice (refused, then accepted), and every record arrived once
    sent = [request.headers["x-batch-part"] for request in receiver.requests]
    assert sent[:3] == ["1", "2", "2"]
    assert sent.count("1") == 1
    assert [record["n"] for _, record in HttpDestination(receiver).held()] == list(range(1500))


def test_a_batch_resent_by_another_worker_can_be_de_duplicated_by_batch_id_and_part(
    receiver: Receiver,
) -> None:
    # Given two workers (two sinks) that both write the same batch
    for _ in range(2):
        sink = HttpSink(receiver.url)
        sink.write(batch(3))
        sink.close()
    # Then the receiver got it twice, under the same batch id and part, and holds it once
    assert [r.batch_key for r in receiver.accepted()] == [("batch-1", "1"), ("batch-1", "1")]
    assert len(receiver.delivered()) == 3
