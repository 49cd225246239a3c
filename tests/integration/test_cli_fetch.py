"""`mimecast-source fetch` as a real subprocess against the simulator: NDJSON, progress, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.fetching import Clocks, simulator_id
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

SIEM_ID = ("aggregateId", "type")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def fetch_command() -> str:
    return str(Path(sys.executable).parent / "mimecast-source")


def fetch_environment(sim: SimulatorProcess, **env: str) -> dict[str, str]:
    """The environment of an operator pointing the command at the simulator (empty values unset)."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("MIMECAST_", "SIM_"))
    }
    environment.update(
        {
            "MIMECAST_BASE_URL": sim.url,
            "MIMECAST_CLIENT_ID": CLIENT_ID,
            "MIMECAST_CLIENT_SECRET": CLIENT_SECRET,
            **env,
        }
    )
    return {key: value for key, value in environment.items() if value}


def fetch(sim: SimulatorProcess, cwd: Path, *args: str, **env: str) -> Run:
    """The command as an operator runs it, in an empty directory (no .env), with the given settings."""
    done = subprocess.run(
        [fetch_command(), "fetch", *args],
        env=fetch_environment(sim, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def clocks(simulator: SimulatorProcess) -> Clocks:
    return Clocks(simulator)


def truth_id(record: dict[str, Any]) -> str:
    if "aggregateId" in record:
        return f"{record['aggregateId']}:{record.get('type') or record.get('eventType')}"
    return str(record.get("messageId") or record["id"])


@pytest.mark.parametrize(
    ("collection", "extra", "via"),
    [
        ("siem", [], "batch"),
        ("siem", ["--siem-streaming"], "streaming"),
        ("dlp", [], "batch"),
        ("auditEvent", [], "batch"),
        ("holdMessageList", [], "batch"),
    ],
    ids=["siem", "siem-streaming", "dlp", "auditEvent", "holdMessageList"],
)
def test_each_collection_is_printed_as_ndjson_equal_to_the_ground_truth(
    simulator: SimulatorProcess, clocks: Clocks, tmp_path: Path, collection: str, extra: list[str], via: str
) -> None:
    # Mimecast's /api times have whole seconds: so do the bounds a user gives
    since, until = clocks.origin, (clocks.now - timedelta(minutes=10)).replace(microsecond=0)
    run = fetch(
        simulator,
        tmp_path,
        "--collection",
        collection,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        *extra,
    )
    assert run.code == 0, run.stderr
    expected = Counter(simulator.truth(collection, via=via, since=since.isoformat(), until=until.isoformat()))
    assert Counter(truth_id(record) for record in run.records) == expected
    assert sum(expected.values()) > 300
    # And progress went to stderr: pages, then the summary
    assert f"{collection}: {sum(expected.values())} records in " in run.stderr
    assert "0 gaps, 0 quarantined lines" in run.stderr
    assert CLIENT_SECRET not in run.stdout + run.stderr


MORE = ["ttpUrl", "ttpAttachment", "ttpImpersonation", "archiveSearch", "holdReleaseLog", "cloudIntegrated"]
MORE += ["threatIntelCustomer", "threatIntelGrid"]


@pytest.mark.parametrize("collection", MORE)
def test_each_further_collection_is_printed_as_ndjson_equal_to_the_ground_truth(
    simulator: SimulatorProcess, clocks: Clocks, tmp_path: Path, collection: str
) -> None:
    since, until = clocks.origin, (clocks.now - timedelta(minutes=10)).replace(microsecond=0)
    bounds = ("--since", since.isoformat(), "--until", until.isoformat())
    run = fetch(simulator, tmp_path, "--collection", collection, *bounds)
    assert run.code == 0, run.stderr
    # The windows of these routes include their end (Cloud Integrated is cut at `until` by the command)
    end = until if collection == "cloudIntegrated" else until + timedelta(milliseconds=1)
    expected = Counter(simulator.truth(collection, since=since.isoformat(), until=end.isoformat()))
    assert Counter(simulator_id(collection, record) for record in run.records) == expected
    assert sum(expected.values()) > 300
    assert f"{collection}: {sum(expected.values())} records in " in run.stderr


def test_limit_stops_after_that_many_records(
    simulator: SimulatorProcess, tmp_path: Path, clocks: Clocks
) -> None:
    run = fetch(simulator, tmp_path, "--collection", "siem", "--limit", "7")
    assert run.code == 0, run.stderr
    assert len(run.records) == 7
    assert "siem: 7 records in " in run.stderr


def test_a_start_older_than_mimecast_serves_prints_the_gap_and_the_summary_counts_it(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    run = fetch(
        simulator, tmp_path, "--collection", "siem", "--siem-streaming", "--since", "3d", "--limit", "3"
    )
    assert run.code == 0, run.stderr
    gaps = [line for line in run.stderr.splitlines() if line.startswith("gap: ")]
    assert len(gaps) == 1, run.stderr
    assert gaps[0].endswith(": older than the 23 hours 50 minutes Mimecast serves for siem-streaming")
    assert ", 1 gap, " in run.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    # Given the records piped into a reader that takes two lines and goes (`| head -n 2`)
    command = [fetch_command(), "fetch", "--collection", "siem", "--siem-streaming", "--since", "90m"]
    with subprocess.Popen(
        command,
        env=fetch_environment(simulator),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        lines = [process.stdout.readline() for _ in range(2)]
        process.stdout.close()
        stderr = process.stderr.read()
        code = process.wait(timeout=60)
    # Then the command ends at once, without a traceback
    assert all(line.startswith("{") for line in lines)
    assert code == 0
    assert "Traceback" not in stderr
    assert "Error" not in stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"MIMECAST_CLIENT_SECRET": "wrong-secret-value"}, "Client credentials are invalid"),
        ({"MIMECAST_CLIENT_ID": ""}, "set MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET"),
        ({"MIMECAST_BASE_URL": "", "MIMECAST_GATEWAY": "mars"}, "mimecast_gateway"),
        ({"MIMECAST_BASE_URL": "ftp://example"}, "not an http(s) URL"),
    ],
    ids=["bad credentials", "no credentials", "unknown gateway", "malformed base URL"],
)
def test_a_configuration_error_exits_2_with_its_reason_and_never_the_secret(
    simulator: SimulatorProcess, tmp_path: Path, env: dict[str, str], says: str
) -> None:
    run = fetch(simulator, tmp_path, "--collection", "dlp", **env)
    assert run.code == 2
    assert run.stdout == ""
    assert says in run.stderr
    assert "configuration error" in run.stderr
    assert "wrong-secret-value" not in run.stderr
    assert CLIENT_SECRET not in run.stderr


def test_a_collection_the_application_may_not_read_exits_2(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    simulator.control.post(
        "/_sim/clients", json={"client_id": "dlp-only", "client_secret": "s3cret", "collections": ["dlp"]}
    ).raise_for_status()
    run = fetch(
        simulator,
        tmp_path,
        "--collection",
        "auditEvent",
        MIMECAST_CLIENT_ID="dlp-only",
        MIMECAST_CLIENT_SECRET="s3cret",
    )
    assert run.code == 2
    assert "Forbidden to perform the requested operation" in run.stderr


def test_a_bare_400_from_the_token_endpoint_exits_2(simulator: SimulatorProcess, tmp_path: Path) -> None:
    simulator.configure(token_error_status=400)
    run = fetch(simulator, tmp_path, "--collection", "dlp", MIMECAST_CLIENT_SECRET="nope")
    assert run.code == 2
    assert "refused the client id and secret" in run.stderr


def test_an_upstream_failure_exits_3_and_a_short_rate_limit_is_waited_out(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    simulator.fault("audit", status=503)
    failed = fetch(simulator, tmp_path, "--collection", "auditEvent")
    assert failed.code == 3
    assert "Mimecast failed: ThirdPartyGeneric 503" in failed.stderr
    simulator.fault("dlp", kind="rate_limit", reset_ms=1000)
    waited = fetch(simulator, tmp_path, "--collection", "dlp", "--limit", "5")
    assert waited.code == 0, waited.stderr
    assert "rate limited by Mimecast: waiting 1 s" in waited.stderr
    assert len(waited.records) == 5
