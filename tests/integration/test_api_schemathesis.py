"""Schemathesis over the served OpenAPI document: no server error, answers as documented.

The API runs as a real process; schemathesis (its command line, as an operator would run it)
reads `/api/v1/openapi.json` with credentials and follows its links from creates to reads,
updates and deletes. A fixed seed keeps CI reproducible.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.xdist_group("api-schemathesis")

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "allow_header_conformance",
    ]
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(stack: Stack, tmp_path: Path) -> None:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a dev dependency"
    run = subprocess.run(
        [
            binary, "run", f"{stack.api.url}/api/v1/openapi.json",
            "--auth", f"{ADMIN_ID}:{ADMIN_KEY}",
            "--checks", CHECKS,
            "--max-examples", "10",
            "--seed", "20261125",
            "--workers", "1",
            "--no-shrink",
            "--request-timeout", "10",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    log = stack.api.log()
    statuses = [json.loads(line).get("status") for line in log.splitlines() if line.startswith("{")]
    assert statuses, "the API's JSON access lines carry each answer's status"
    assert [status for status in statuses if isinstance(status, int) and status >= 500] == []
    assert "Traceback" not in log
    assert ADMIN_KEY not in log
