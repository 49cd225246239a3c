"""`mimecast-source collectors ...` run as subprocesses against a real API (private Redis, no worker).

Given an API with no collector, `sources create` names the command that makes one; the
`collectors` commands then make, show, change and delete collectors from flags or JSON files, with
the exit codes of `sources`; and the README's compose walkthrough (the commands it runs inside
the api container) works copied line by line.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.stack import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mimecast-source.json"
IN_THE_API_CONTAINER = "docker compose exec api "


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("cli-collectors")) as running:
        yield running


def cli(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "MIMECAST_SOURCE_API_URL": stack.api.url,
        "API_ACCESS_ID": ADMIN_ID,
        "API_ACCESS_KEY": ADMIN_KEY,
        **env,
    }
    command = [sys.executable, "-c", "from cli.main import main; main()", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=60, check=False
    )


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def delete_every_collector(stack: Stack) -> None:
    api = stack.client()
    for collector in api.get("/collectors").json()["collectors"]:
        api.delete(f"/collectors/{collector['id']}").raise_for_status()


@pytest.mark.parametrize("command", ["list", "show", "create", "update", "delete"])
def test_every_collectors_command_has_help_with_exit_codes_and_json(command: str) -> None:
    run = CliRunner().invoke(main, ["collectors", command, "--help"])
    assert run.exit_code == 0, run.output
    assert "Exit codes" in run.output
    assert "--json" in run.output


def test_with_no_collector_sources_create_names_the_command_that_makes_one(stack: Stack) -> None:
    delete_every_collector(stack)
    run = cli(stack, "sources", "create", "-f", str(EXAMPLE))
    assert run.returncode == 2
    assert "mimecast-source collectors create --name" in run.stderr
    listed = cli(stack, "collectors", "list")
    assert (listed.returncode, listed.stdout) == (0, "")
    assert "collectors create" in listed.stderr


def test_a_collector_from_flags_through_its_whole_life(stack: Stack) -> None:
    delete_every_collector(stack)
    made = as_json(
        cli(
            stack,
            "collectors",
            "create",
            "--name",
            "mail",
            "--category",
            "email",
            "--field",
            "team=sec",
            "--json",
        )
    )["collector"]
    assert (made["name"], made["category"], made["fields"]) == ("mail", "email", {"team": "sec"})

    text = cli(stack, "collectors", "list")
    assert text.returncode == 0
    assert text.stdout.split("\n")[0].split("\t") == [made["id"], "mail", "email", "0 sources"]

    source = as_json(cli(stack, "sources", "create", "-f", str(EXAMPLE), "--json"))["source"]
    shown = as_json(cli(stack, "collectors", "show", "mail", "--json"))
    assert shown["collector"]["id"] == made["id"]
    assert [s["id"] for s in shown["sources"]] == [source["id"]]
    assert source["id"] in cli(stack, "collectors", "show", made["id"]).stdout

    # Flags change only what they name; the rest stays.
    changed = as_json(cli(stack, "collectors", "update", "mail", "--description", "the mail team", "--json"))
    assert changed["collector"]["description"] == "the mail team"
    assert (changed["collector"]["category"], changed["collector"]["fields"]) == ("email", {"team": "sec"})
    renamed = cli(stack, "collectors", "update", made["id"], "--name", "mail-2")
    assert renamed.returncode == 0, renamed.stderr
    assert "mail-2" in renamed.stdout

    deleted = as_json(cli(stack, "collectors", "delete", "mail-2", "--json"))
    assert deleted == {"deleted": made["id"], "sources": [source["id"]]}
    assert cli(stack, "collectors", "show", "mail-2").returncode == 3


def test_the_example_collector_file_makes_a_collector(stack: Stack) -> None:
    made = as_json(
        cli(stack, "collectors", "create", "-f", "examples/collector.json", "--name", "example", "--json")
    )
    assert (made["collector"]["name"], made["collector"]["fields"]) == ("example", {"team": "security"})
    assert cli(stack, "collectors", "delete", "example").returncode == 0


def test_a_collector_from_a_json_file_and_a_file_that_replaces_it(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "collector.json"
    path.write_text(
        json.dumps({"collector": {"collectorType": "Hosted", "name": "from-file", "category": "a"}})
    )
    made = as_json(cli(stack, "collectors", "create", "-f", str(path), "--json"))["collector"]
    assert (made["name"], made["category"]) == ("from-file", "a")
    path.write_text(json.dumps({"collector": {"name": "from-file", "timeZone": "Etc/UTC"}}))
    replaced = as_json(cli(stack, "collectors", "update", "from-file", "-f", str(path), "--json"))[
        "collector"
    ]
    assert (replaced["category"], replaced["timeZone"]) == (None, "Etc/UTC")
    assert cli(stack, "collectors", "delete", made["id"]).returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["collectors", "create"], 2, "needs a name"),
        (["collectors", "create", "--name", "x", "--field", "novalue"], 2, "KEY=VALUE"),
        (["collectors", "create", "--name", "bad\u0007name"], 4, "name"),
        (["collectors", "create", "-f", "/nonexistent/collector.json"], 2, "cannot read a JSON collector"),
        (["collectors", "update", "nobody", "--name", "y"], 3, "no collector nobody"),
        (["collectors", "update", "nobody"], 2, "nothing to change"),
        (["collectors", "show", "nobody"], 3, "no collector nobody"),
        (["collectors", "delete", "nobody"], 3, "no collector nobody"),
    ],
)
def test_documented_exit_codes(stack: Stack, args: list[str], code: int, said: str) -> None:
    run = cli(stack, *args)
    assert run.returncode == code, run.stderr
    assert said in run.stderr


def test_a_taken_name_is_rejected_and_wrong_credentials_are_unauthorized(stack: Stack) -> None:
    assert cli(stack, "collectors", "create", "--name", "twice").returncode == 0
    taken = cli(stack, "collectors", "create", "--name", "twice")
    assert taken.returncode == 4, taken.stderr
    assert cli(stack, "collectors", "list", API_ACCESS_KEY="wrong").returncode == 5
    assert cli(stack, "collectors", "delete", "twice").returncode == 0


def test_the_readme_compose_walkthrough_works_copied_line_by_line(stack: Stack) -> None:
    """The `mimecast-source` lines the README runs inside the api container, run here the same way."""
    delete_every_collector(stack)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**The demo with compose.**") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [line.split("  #")[0] for line in block.group(1).splitlines()]
    steps = [
        line.removeprefix(IN_THE_API_CONTAINER) for line in lines if line.startswith(IN_THE_API_CONTAINER)
    ]
    assert [shlex.split(step)[:3] for step in steps] == [
        ["mimecast-source", "collectors", "create"],
        ["mimecast-source", "sources", "create"],
        ["mimecast-source", "sources", "list"],
    ]
    for step in steps:
        run = cli(stack, *shlex.split(step)[1:])
        assert run.returncode == 0, f"{step}: {run.stderr}"
    listed = as_json(cli(stack, "sources", "list", "--json"))["sources"]
    assert [source["config"]["name"] for source in listed] == ["Mimecast"]
