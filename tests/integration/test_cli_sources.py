"""`mimecast-source sources ...` and `health`, run as subprocesses against a real API.

Given a deployment (private Redis, the simulator, one worker, the API), the commands manage a
source from the repository's example file through its whole life, print JSON with `--json`, and
exit with the documented codes: 0 done, 2 usage, 3 not found, 4 rejected, 5 unauthorized,
6 unreachable, 7 unhealthy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from cli.main import main
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.ports import free_port
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET
from tests.support.stack import Stack, running_stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mimecast-source.json"
COMMANDS = [
    [],
    ["sources"],
    ["sources", "list"],
    ["sources", "show"],
    ["sources", "create"],
    ["sources", "update"],
    ["sources", "restart"],
    ["sources", "reset"],
    ["sources", "delete"],
    ["health"],
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SINK_URL", f"file://{directory}/out")
        with running_stack(directory, workers=1, simulator=True) as running:
            running.client().post(
                "/collectors", json={"collector": {"collectorType": "Hosted", "name": "mail"}}
            )
            yield running


def cli(stack: Stack | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "MIMECAST_SOURCE_API_URL": stack.api.url if stack else "http://127.0.0.1:9",
        "API_ACCESS_ID": ADMIN_ID,
        "API_ACCESS_KEY": ADMIN_KEY,
        **env,
    }
    command = [sys.executable, "-c", "from cli.main import main; main()", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=60, check=False
    )


def source_state(api: httpx.Client, source_id: str) -> str | None:
    """The source's state through the API (polled without paying a CLI start per look)."""
    for collector in api.get("/collectors").json()["collectors"]:
        found = api.get(f"/collectors/{collector['id']}/sources/{source_id}")
        if found.status_code == 200:
            state: str = found.json()["source"]["state"]["state"]
            return state
    return None


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def config_file(tmp_path: Path, **changes: Any) -> Path:
    body = json.loads(EXAMPLE.read_text())
    body["source"]["config"].update(changes)
    path = tmp_path / "source.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command: list[str]) -> None:
    # In process: help needs no API, and a subprocess per command costs seconds on a loaded machine.
    run = CliRunner().invoke(main, [*command, "--help"])
    assert run.exit_code == 0, run.output
    assert "Usage:" in run.output
    if command and command != ["sources"]:
        assert "Exit codes" in run.output
        assert "--json" in run.output


def test_a_source_from_the_example_file_through_its_whole_life(stack: Stack, tmp_path: Path) -> None:
    path = config_file(tmp_path, name="cli-life", clientID=CLIENT_ID, clientSecret=CLIENT_SECRET)
    made = as_json(cli(stack, "sources", "create", "-f", str(path), "--collector", "mail", "--json"))
    source_id = made["source"]["id"]
    assert made["source"]["config"]["clientSecret"] == "********"

    listed = as_json(cli(stack, "sources", "list", "--json"))["sources"]
    assert source_id in [source["id"] for source in listed]
    text = cli(stack, "sources", "list")
    assert text.returncode == 0
    assert source_id in text.stdout
    assert "cli-life" in text.stdout

    shown = as_json(cli(stack, "sources", "show", source_id, "--json"))
    assert shown["source"]["config"]["name"] == "cli-life"
    assert shown["history"]

    renamed = config_file(tmp_path, name="cli-renamed", clientID=CLIENT_ID)
    del_secret = json.loads(renamed.read_text())
    del del_secret["source"]["config"]["clientSecret"]
    renamed.write_text(json.dumps(del_secret))
    updated = as_json(cli(stack, "sources", "update", source_id, "-f", str(renamed), "--json"))
    assert updated["source"]["config"]["name"] == "cli-renamed"

    restarted = cli(stack, "sources", "restart", source_id)
    assert restarted.returncode == 0, restarted.stderr
    assert source_id in restarted.stdout

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    reset = as_json(cli(stack, "sources", "reset", source_id, "--from", an_hour_ago, "--json"))
    assert reset["source"]["id"] == source_id
    assert cli(stack, "sources", "reset", source_id, "--from", "yesterday").returncode == 4

    deleted = cli(stack, "sources", "delete", source_id)
    assert deleted.returncode == 0, deleted.stderr
    api = stack.client()
    wait_for(lambda: source_state(api, source_id) is None, timeout=20, what="source gone")
    assert cli(stack, "sources", "show", source_id).returncode == 3


def test_documented_exit_codes(stack: Stack, tmp_path: Path) -> None:
    missing = cli(stack, "sources", "show", "0000000000000000")
    assert (missing.returncode, "no source" in missing.stderr) == (3, True)
    assert cli(stack, "sources", "list", API_ACCESS_KEY="wrong").returncode == 5
    unreachable = cli(stack, "sources", "list", MIMECAST_SOURCE_API_URL=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 6
    assert "cannot reach" in unreachable.stderr
    assert cli(stack, "sources", "create", "-f", str(tmp_path / "absent.json")).returncode == 2
    assert cli(stack, "sources", "list", "--no-such-flag").returncode == 2
    invalid = cli(stack, "sources", "create", "-f", str(config_file(tmp_path, dataCollection=["mail"])))
    assert invalid.returncode == 4
    assert "dataCollection" in invalid.stderr
    taken = config_file(tmp_path, name="cli-taken")
    assert cli(stack, "sources", "create", "-f", str(taken)).returncode == 0
    assert cli(stack, "sources", "create", "-f", str(taken)).returncode == 4  # the name is taken


def test_health_names_a_failing_source_and_exits_7(stack: Stack, tmp_path: Path) -> None:
    path = config_file(tmp_path, name="cli-bad", clientID=CLIENT_ID, clientSecret="not-the-secret")
    source_id = as_json(cli(stack, "sources", "create", "-f", str(path), "--json"))["source"]["id"]
    api = stack.client()
    wait_for(lambda: source_state(api, source_id) == "Error", timeout=30, what="source in Error")
    run = cli(stack, "health", "--json")
    assert run.returncode == 7, run.stderr
    report = json.loads(run.stdout)
    assert report["healthy"] is False
    assert report["sources"]["Error"] >= 1
    assert any(event["eventName"] == "ThirdPartyConfigError" for event in report["healthEvents"])
    assert "not-the-secret" not in run.stdout
    text = cli(stack, "health")
    assert text.returncode == 7
    assert "ThirdPartyConfigError" in text.stdout
    assert cli(stack, "sources", "delete", source_id).returncode == 0


def test_health_of_an_api_that_is_not_there_exits_6() -> None:
    assert cli(None, "health", MIMECAST_SOURCE_API_URL=f"http://127.0.0.1:{free_port()}").returncode == 6
