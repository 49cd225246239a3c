"""`mimecast-source sources progress SOURCE_ID [--follow]` against a real API and Redis.

Given a source whose DLP stream has spent the last ten minutes of a backfill catching up (written
through the same stores the engine uses), the command shows records, the rate, the lag and an
ETA; with `--follow` it redraws as records arrive and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.models import WindowCursor, cursor_to_json
from core.store import keys
from core.store.coordination import Coordination
from core.store.counters import RECORDS_FORWARDED, Counters
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.stack import Stack, running_stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mimecast-source.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("cli-progress")) as running:
        yield running


def environment(stack: Stack, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "MIMECAST_SOURCE_API_URL": stack.api.url,
        "API_ACCESS_ID": ADMIN_ID,
        "API_ACCESS_KEY": ADMIN_KEY,
        **extra,
    }


COMMAND = [sys.executable, "-c", "from cli.main import main; main()", "sources", "progress"]


@pytest.fixture(scope="module")
def backfilling(stack: Stack) -> str:
    """A source whose DLP lag fell from 10 h to 8 h over the last ten minutes, 1000 records a minute."""
    api = stack.client()
    collector = api.post(
        "/collectors", json={"collector": {"collectorType": "Hosted", "name": "mail"}}
    ).json()
    body = json.loads(EXAMPLE.read_text())
    body["source"]["config"]["dataCollection"] = ["dlp", "auditEvent"]
    source_id: str = api.post(f"/collectors/{collector['collector']['id']}/sources", json=body).json()[
        "source"
    ]["id"]
    streams = Coordination(stack.redis())
    stream = keys.stream_of(source_id, "dlp")
    # The last commit below lands in the minute under way, and the view reads the series up to the
    # real now: should that minute end before the view is read, a minute without a commit ends the
    # series and moves the estimate (seen once: 2668 s against 2400). So start early in a minute.
    left = 60 - datetime.now(UTC).second
    if left < 20:
        time.sleep(left + 0.1)
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=10))
    counters = Counters(stack.redis(), clock)
    version = 0
    for minute in range(11):
        lease = streams.acquire(stream, 30)
        assert lease is not None
        behind = timedelta(hours=10) - timedelta(minutes=12 * minute)
        cursor = json.dumps(cursor_to_json(WindowCursor(start=clock.now() - behind)))
        version = streams.commit(lease, version, cursor, clock.now().timestamp())
        streams.release(lease)
        counters.add(RECORDS_FORWARDED, {"source": source_id, "collection": "dlp"}, 1000)
        clock.advance(60)
    return source_id


def test_the_view_shows_records_rate_lag_and_an_eta_while_a_backfill_catches_up(
    stack: Stack, backfilling: str
) -> None:
    run = subprocess.run(
        [*COMMAND, backfilling, "--json"], capture_output=True, text=True, env=environment(stack), timeout=60
    )
    assert run.returncode == 0, run.stderr
    dlp, audit = json.loads(run.stdout)["collections"]
    assert (dlp["collection"], dlp["recordsForwarded"], dlp["recordsPerMinute"]) == ("dlp", 11000, 1000.0)
    assert dlp["trend"] == "catching up"
    assert 8 * 3600 - 120 <= dlp["lagSeconds"] <= 8 * 3600 + 120
    assert dlp["etaSeconds"] == pytest.approx(8 * 3600 / 12, rel=0.05)  # 12 s of lag lost per second
    assert (audit["collection"], audit["trend"], audit["etaSeconds"]) == (
        "auditEvent",
        "not collected yet",
        None,
    )

    text = subprocess.run(
        [*COMMAND, backfilling],
        capture_output=True,
        text=True,
        env=environment(stack, COLUMNS="140"),
        timeout=60,
    )
    assert text.returncode == 0, text.stderr
    assert re.search(r"dlp .* 11,000 .* 1,000\.0 .* 8 h [01] min .* 40 min .* catching up", text.stdout)
    missing = subprocess.run(
        [*COMMAND, "0000000000000000"], capture_output=True, text=True, env=environment(stack)
    )
    assert missing.returncode == 3


def test_follow_redraws_as_records_arrive_and_ctrl_c_ends_it(stack: Stack, backfilling: str) -> None:
    terminal = environment(stack, FORCE_COLOR="1", COLUMNS="140", TERM="xterm")
    process = subprocess.Popen(
        [*COMMAND, backfilling, "--follow", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=terminal,
    )
    assert process.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(iter(lambda: process.stdout.read(256), "")), daemon=True
    )
    reader.start()
    shown = lambda: ANSI.sub("", "".join(seen))  # noqa: E731
    try:
        wait_for(lambda: "11,000" in shown(), timeout=30, what="the first table")
        Counters(stack.redis()).add(RECORDS_FORWARDED, {"source": backfilling, "collection": "dlp"}, 2345)
        wait_for(lambda: "13,345" in shown(), timeout=30, what="a redraw with the new records")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=10)
        errors = process.stderr.read() if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert code == 0, errors
    assert "catching up" in shown()
