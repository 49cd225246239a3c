"""Our Mimecast client against the simulator: records per second, calls per 10,000 records, memory.

Three figures, each printed side by side with what it compares to:
- records per second on each collection, read from the start of a 24-hour backlog, with the
  simulator warmed by a first pass (its records built and files gzipped) and the second pass
  measured; page sizes at the client's maxima;
- Mimecast calls per 10,000 records, token requests included, and the token requests of a day of
  five-minute polls (at most one per credential per 25 minutes);
- the peak memory of reading one SIEM batch file of 500 MB (uncompressed) next to one of 50 MB,
  each in a fresh process: resident set (VmHWM) and the tracemalloc peak.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.clock import SystemClock
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING, StreamSpec
from core.models import BatchFile
from tests.support.fetching import Clocks, connect, drain, start_cursor
from tests.support.simulator import SimulatorProcess

SIEM_RECORDS = 100_000
API_RECORDS = 20_000
BACKLOG_HOURS = 24
START = "2024-06-05T12:00:00Z"
UNLIMITED = (1_000_000, 60)
SPECS: list[tuple[str, StreamSpec]] = [
    ("siem batch", SIEM_BATCH),
    ("siem streaming", SIEM_STREAMING),
    ("siem streaming 500", replace(SIEM_STREAMING, page_size=500)),
    ("dlp", DLP),
    ("auditEvent", AUDIT),
    ("holdMessageList", HOLD),
]
FILE_SIZES_MB = (50, 500)
POLLS_PER_DAY = 288


def _simulator(directory: Path, **options: Any) -> SimulatorProcess:
    sim = SimulatorProcess(
        directory,
        start=START,
        clock_frozen=True,
        quota_batch=UNLIMITED,
        quota_streaming=UNLIMITED,
        quota_api=UNLIMITED,
        **options,
    )
    sim.start()
    return sim


def _pass(sim: SimulatorProcess, spec: StreamSpec) -> tuple[int, float, float, dict[str, int]]:
    """One read of the whole backlog by a new worker: records, seconds, client CPU seconds, calls."""
    sim.reset()
    clocks = Clocks(sim)
    connection = connect(sim, clocks.client)
    began, cpu = time.perf_counter(), time.process_time()
    records = sum(len(page.records) for page in drain(connection.fetcher, spec, start_cursor(spec, clocks)))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    connection.close()
    calls: dict[str, int] = sim.state()["calls"]
    return records, seconds, cpu, calls


def throughput(directory: Path) -> None:
    minutes = BACKLOG_HOURS * 60
    rates = {
        "siem": -(-SIEM_RECORDS // minutes),
        "dlp": -(-API_RECORDS // minutes),
        "auditEvent": -(-API_RECORDS // minutes),
        "holdMessageList": -(-API_RECORDS // minutes),
    }
    sim = _simulator(directory, backlog_hours=BACKLOG_HOURS, collection_rates=rates, events_per_minute=20)
    try:
        print("client: a 24-hour backlog read by a new worker (one client, loopback; simulator warmed)")
        head = ("collection", "records", "cold rec/s", "warm rec/s", "CPU rec/s", "calls", "files", "tokens")
        print("{:<20}{:>9}{:>12}{:>12}{:>11}{:>7}{:>7}{:>7}{:>11}".format(*head, "calls/10k"))
        for name, spec in SPECS:
            cold_records, cold_seconds, _, _ = _pass(sim, spec)
            records, seconds, cpu, calls = _pass(sim, spec)
            assert records == cold_records, f"{name}: the two passes read different records"
            api = sum(count for route, count in calls.items() if route not in ("token", "files"))
            files, tokens = calls.get("files", 0), calls.get("token", 0)
            per_10k = (api + files + tokens) * 10_000 / max(records, 1)
            print(
                f"{name:<20}{records:>9}{cold_records / cold_seconds:>12,.0f}{records / seconds:>12,.0f}"
                f"{records / cpu:>11,.0f}{api:>7}{files:>7}{tokens:>7}{per_10k:>11.1f}"
            )
        print("  rec/s: wall time, simulator included; CPU rec/s: the client's own CPU time only")
        print("  calls: listings or pages; files: batch-file downloads; page sizes: batch 100 files,")
        print("  streaming 100 events (500 in the second streaming row), /api 500 records")
    finally:
        sim.stop()


def tokens_over_a_day(directory: Path) -> None:
    """A day of five-minute polls of every stream by one worker: how often it asks for a token."""
    sim = _simulator(directory, backlog_hours=1, events_per_minute=6)
    try:
        clocks = Clocks(sim)
        connection = connect(sim, clocks.client)
        specs = [SIEM_BATCH, SIEM_STREAMING, DLP, AUDIT, HOLD]
        cursors = {spec.name: start_cursor(spec, clocks) for spec in specs}
        asked_at: list[int] = []  # the minutes of the day at which a token was requested
        for poll in range(POLLS_PER_DAY):
            for spec in specs:
                pages = drain(connection.fetcher, spec, cursors[spec.name])
                if pages:
                    cursors[spec.name] = pages[-1].end
            asked_at += [poll * 5] * (sim.state()["calls"].get("token", 0) - len(asked_at))
            clocks.advance(300)
        connection.close()
        total = sum(sim.state()["calls"].values())
        gaps = [later - earlier for earlier, later in itertools.pairwise(asked_at)]
        hours = POLLS_PER_DAY * 5 / 60
        print(
            f"tokens: {len(asked_at)} token requests in {hours:.0f} simulated hours of 5-minute polls of "
            f"5 streams ({total} calls in all); the shortest time between two: {min(gaps, default=0)} minutes"
        )
    finally:
        sim.stop()


def _status(field: str) -> int:
    """A figure of /proc/self/status in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def read_file(url: str, traced: bool) -> dict[str, float]:
    """Read one batch file as a worker does, in this (fresh) process; its figures."""
    client = MimecastClient(url.split("/mimecast-siem-batch")[0], SystemClock())
    reader = BatchFileReader(client)
    baseline = _status("VmRSS")
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    records = 0
    for chunk in reader.read(SIEM_BATCH, BatchFile(key="bench", url=url), 0):
        records += len(chunk.records)
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    client.close()
    return {
        "records": records,
        "seconds": seconds,
        "baseline": baseline,
        "hwm": _status("VmHWM"),
        "traced": peak,
    }


def _child(url: str, traced: bool) -> dict[str, float]:
    args = [
        sys.executable,
        "-m",
        "bench.client_throughput",
        "read-file",
        url,
        *(["--traced"] if traced else []),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def file_memory(directory: Path) -> None:
    sim = _simulator(directory, backlog_hours=6, events_per_minute=20, batch_url_ttl_seconds=86_400)
    try:
        probe = sim.control.post("/_sim/files/bulk", json={"lines": 1000, "measure": True}).json()
        line_bytes = probe["bytes"] / probe["lines"]
        rows = []
        for megabytes in FILE_SIZES_MB:
            lines = int(megabytes * 1_000_000 / line_bytes)
            url = sim.control.post("/_sim/files/bulk", json={"lines": lines}).json()["url"]
            plain, traced = _child(url, traced=False), _child(url, traced=True)
            rows.append((megabytes, lines, plain, traced))
        print("memory: one SIEM batch file (gzip NDJSON) read in chunks by a fresh process")
        head = ("file", "lines", "rec/s", "RSS before", "RSS peak", "growth", "traced peak")
        print("{:<10}{:>11}{:>10}{:>12}{:>12}{:>10}{:>13}".format(*head))
        for megabytes, lines, plain, traced in rows:
            growth = plain["hwm"] - plain["baseline"]
            print(
                f"{megabytes:>4} MB   {lines:>11,}{plain['records'] / plain['seconds']:>10,.0f}"
                f"{_mb(plain['baseline']):>12}{_mb(plain['hwm']):>12}{_mb(growth):>10}{_mb(traced['traced']):>13}"
            )
        small, large = rows[0], rows[-1]
        print(
            f"  {large[0] // small[0]}x the file: RSS peak x{large[2]['hwm'] / small[2]['hwm']:.2f}, "
            f"traced peak x{large[3]['traced'] / max(small[3]['traced'], 1):.2f}"
        )
    finally:
        sim.stop()


def _mb(value: float) -> str:
    return f"{value / 1_000_000:.1f} MB"


def main() -> None:
    parts: list[Callable[[Path], None]] = [throughput, tokens_over_a_day, file_memory]
    with tempfile.TemporaryDirectory() as tmp:
        for part in parts:
            part(Path(tmp))
            print()


if __name__ == "__main__":
    if sys.argv[1:2] == ["read-file"]:
        print(json.dumps(read_file(sys.argv[2], traced="--traced" in sys.argv)))
    else:
        main()
