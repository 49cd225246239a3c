"""Records per second into each destination type, one sink writing batches in a loop.

The servers are the ones the tests use, on loopback: a directory (`file`), rsyslogd over TLS
(`syslog`), moto's S3 server (`s3`), the HEC receiver with indexer acknowledgement (`splunkHec`),
the NDJSON receiver (`http`) and the hosted-collector receiver (`sumo`). Records are ~600-byte SIEM
records with their metadata, 1,000 per batch (a page). The figure is the sink's side: encoding,
compression, TLS and the wire; a loopback server in Python is often the slower half, so read these
as lower bounds of what the sink can do.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.sinks.contract import Batch, Message, Sink
from core.sinks.file import FileSink
from core.sinks.http import HttpSink
from core.sinks.specs import check
from core.sinks.syslog import SyslogSink
from tests.support.destination_adapters import EndpointDestination, HecDestination, S3Destination
from tests.support.receiver import Receiver
from tests.support.rsyslog import Rsyslog
from tests.support.tls import make_ca
from tests.unit.sinks.builders import SOURCE

BATCHES = 20
PER_BATCH = 1000


def batches(count: int = BATCHES, size: int = PER_BATCH) -> list[Batch]:
    metadata = SOURCE.for_record("siem", "receipt")
    made = []
    for number in range(count):
        messages = tuple(
            Message(
                id=f"siem-{number:04d}-{index:05d}",
                log_type="receipt",
                metadata=metadata,
                text=json.dumps(
                    {
                        "timestamp": "2026-11-29T12:00:00.000Z",
                        "aggregateId": f"agg-{number}-{index}",
                        "type": "receipt",
                        "senderEnvelope": "someone@example.com",
                        "recipients": ["a@example.org", "b@example.org"],
                        "subject": f"Quarterly report {index}",
                        "pad": "x" * 400,
                    },
                    separators=(",", ":"),
                ),
            )
            for index in range(size)
        )
        made.append(Batch(f"bench-{number:04d}", "src-bench", "bench", "Mimecast", "siem", messages))
    return made


def measure(name: str, sink: Sink, work: list[Batch]) -> float:
    sink.write(work[0])  # connections, TLS, the first object: not part of the figure
    records = sum(len(batch.messages) for batch in work[1:])
    began = time.perf_counter()
    for batch in work[1:]:
        sink.write(batch)
    elapsed = time.perf_counter() - began
    rate = records / elapsed
    print(f"  {name:<10} {rate:>10,.0f} records/s  ({records:,} records in {elapsed:.2f} s)", flush=True)
    return rate


def run(root: Path) -> dict[str, float]:
    work = batches()
    rates: dict[str, float] = {}
    root.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, Callable[[], tuple[Sink, Callable[[], None]]]]] = []

    def file_case() -> tuple[Sink, Callable[[], None]]:
        return FileSink(root / "files"), lambda: None

    def syslog_case() -> tuple[Sink, Callable[[], None]]:
        ca = make_ca(root / "ca")
        server = Rsyslog(root / "rsyslog", ca)
        server.start()
        config = check(
            "syslog", {"host": "127.0.0.1", "port": server.port, "tls": {"caFile": str(ca.ca_file)}}
        )
        return SyslogSink("bench", config), server.stop

    def s3_case() -> tuple[Sink, Callable[[], None]]:
        destination = S3Destination()
        return destination.sink, destination.stop

    def hec_case() -> tuple[Sink, Callable[[], None]]:
        destination = HecDestination(ack=True)
        return destination.sink, destination.stop

    def http_case() -> tuple[Sink, Callable[[], None]]:
        destination = EndpointDestination()
        return destination.sink, destination.stop

    def sumo_case() -> tuple[Sink, Callable[[], None]]:
        receiver = Receiver()
        receiver.start()
        return HttpSink(receiver.url), receiver.stop

    cases = [
        ("file", file_case),
        ("syslog", syslog_case),
        ("s3", s3_case),
        ("splunkHec", hec_case),
        ("http", http_case),
        ("sumo", sumo_case),
    ]
    print(f"destination throughput: {BATCHES - 1} batches of {PER_BATCH:,} records (~600 bytes) per type")
    for name, start in cases:
        sink, stop = start()
        try:
            rates[name] = measure(name, sink, work)
        finally:
            sink.close()
            stop()
    return rates


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-destinations-") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main()
