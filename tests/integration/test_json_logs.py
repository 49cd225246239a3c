"""Logs are JSON lines with the ids of what they are about, and never hold a secret.

Given a real API and a real `celery -A worker worker` on a private Redis and the simulator, when a
source is created and started, then every line either process wrote parses as JSON, the worker's
lines name the task and the source, the API's access lines name the collector and source, and a
planted secret (a client secret, a Fernet key in a path, the settings' keys) appears nowhere.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_server import ADMIN_KEY
from tests.support.celery_worker import READY_MARK, TEST_SECRETS_KEY
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET
from tests.support.stack import Stack, running_stack, wait_for
from worker.logging import (
    AccessIdsFilter,
    JsonFormatter,
    RedactingFilter,
    TaskResultFilter,
    bound,
    library_levels,
    redact,
)

PLANTED_KEY = "glsgcnZucgni3z94VhMXLZOhWoZc8ipCSrsdwwgWhII="  # fixed: xdist collects the same ids
PLANTED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.planted-bearer-token.sig"


def lines(text: str) -> list[dict[str, Any]]:
    parsed = []
    for line in text.splitlines():
        if line.strip():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
    return parsed


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, str, str]]:
    """(stack, worker log, collector id, source id) once a source was created and started."""
    directory = tmp_path_factory.mktemp("json-logs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SINK_URL", f"file://{directory}/out")
        with running_stack(directory, simulator=True) as stack:
            env = {**stack.api.env, "LOG_LEVEL": "INFO"}
            log_path = directory / "celery-json.log"
            console_path = directory / "celery-console.log"
            args = [
                sys.executable, "-m", "celery", "-A", "worker", "--quiet", "worker",
                "--pool", "solo", "--hostname", "json@%h", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            # Log records go to stderr as JSON; Celery prints its console notices (shutdown) on stdout.
            with log_path.open("ab") as log, console_path.open("ab") as console:
                worker = subprocess.Popen(args, stdout=console, stderr=log, env=env)
            try:
                wait_for(lambda: READY_MARK in log_path.read_text(), timeout=30, what="worker ready")
                client = stack.client()
                collector = client.post(
                    "/collectors", json={"collector": {"collectorType": "Hosted", "name": "c"}}
                )
                collector_id = collector.json()["collector"]["id"]
                body = {
                    "api.version": "v1",
                    "source": {
                        "config": {
                            "name": "json-logs",
                            "clientID": CLIENT_ID,
                            "clientSecret": CLIENT_SECRET,
                            "dataCollection": ["dlp"],
                        },
                        "schemaRef": {"type": "Mimecast"},
                        "sourceType": "Universal",
                    },
                }
                source_id = client.post(f"/collectors/{collector_id}/sources", json=body).json()["source"][
                    "id"
                ]
                client.get(f"/collectors/{collector_id}/sources/{source_id}")
                client.get(f"/collectors/{PLANTED_KEY}")
                client.get("/collectors", headers={"Authorization": f"Bearer {PLANTED_TOKEN}"})

                def started() -> bool:
                    state = client.get(f"/collectors/{collector_id}/sources/{source_id}").json()
                    return state["source"]["state"]["state"] in ("Authenticated", "Collecting")

                wait_for(started, timeout=20, what="source authenticated")
                wait_for(lambda: "succeeded" in log_path.read_text(), timeout=10, what="task logged")
            finally:
                worker.terminate()
                worker.wait(timeout=15)
            yield stack, log_path.read_text(), collector_id, source_id


def test_every_worker_line_is_json_and_task_lines_name_the_task_and_the_source(
    logged: tuple[Stack, str, str, str],
) -> None:
    _, worker_log, _, source_id = logged
    parsed = lines(worker_log)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in parsed)
    tasks = [line for line in parsed if line.get("task") == "tasks.lifecycle.start_source"]
    assert tasks, "no line of the start task"
    assert all(line["source_id"] == source_id and line["task_id"] for line in tasks)
    assert any(line["logger"] == "celery.app.trace" for line in tasks)


def test_every_api_line_is_json_and_access_lines_name_the_collector_and_source(
    logged: tuple[Stack, str, str, str],
) -> None:
    stack, _, collector_id, source_id = logged
    parsed = lines(stack.api.log())
    access = [line for line in parsed if line["logger"] == "uvicorn.access"]
    assert any(
        line.get("collector_id") == collector_id and line.get("source_id") == source_id for line in access
    )
    assert all({"time", "level", "logger", "message"} <= set(line) for line in parsed)


def test_no_planted_secret_reaches_a_log(logged: tuple[Stack, str, str, str]) -> None:
    stack, worker_log, _, _ = logged
    text = stack.api.log() + worker_log
    for secret in (CLIENT_SECRET, PLANTED_KEY, PLANTED_TOKEN, ADMIN_KEY, TEST_SECRETS_KEY):
        assert secret not in text
    assert "/collectors/*** HTTP/1.1" in stack.api.log()


# The filter itself, in process: what it masks and what it keeps.


def render(
    message: str, *args: object, logger_name: str = "tests.json-logs", **extra: object
) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TaskResultFilter())
    handler.addFilter(AccessIdsFilter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    result: dict[str, Any] = json.loads(stream.getvalue())
    return result


@pytest.mark.parametrize(
    ("planted", "kept"),
    [
        (f"Authorization: Bearer {PLANTED_TOKEN}", "Bearer ***"),
        ("Authorization: Basic dGVzdDpzZWNyZXQta2V5", "Basic ***"),
        (f"key {PLANTED_KEY} loaded", "key *** loaded"),
        ("token gAAAAABoZXJlLWlzLWEtZmVybmV0LXRva2VuLXRoYXQtaXMtbG9uZw== stored", "token *** stored"),
        ('{"clientSecret": "hunter2-planted"}', '{"clientSecret": "***"}'),
        ("client_secret=hunter2-planted&grant_type=client_credentials", "client_secret=***&grant_type"),
        ("redis://:hunter2-planted@redis:6379/0", "redis://:***@redis:6379/0"),
        (
            "GET https://b.s3.amazonaws.com/siem/f.gz?X-Amz-Credential=AKIAhunter2&X-Amz-Expires=60"
            "&X-Amz-Signature=hunter2abcdef&X-Amz-Security-Token=hunter2tok",
            "f.gz?X-Amz-Credential=***&X-Amz-Expires=60&X-Amz-Signature=***&X-Amz-Security-Token=***",
        ),
        ("https://acct.blob.core.windows.net/c/f.gz?sv=2024&sig=hunter2%2Bx", "?sv=2024&sig=***"),
    ],
)
def test_secret_looking_text_is_masked(planted: str, kept: str) -> None:
    line = render("seen %s", planted)
    assert kept in line["message"]
    assert "hunter2" not in json.dumps(line)
    assert PLANTED_TOKEN not in json.dumps(line)
    assert PLANTED_KEY not in json.dumps(line)


def test_secret_named_extras_are_masked_and_ids_are_kept() -> None:
    with bound(task_id="t-1"):
        line = render("x", clientSecret="hunter2-planted", source="s-1", collection="dlp")
    assert line["clientSecret"] == "***"
    assert (line["source_id"], line["collection"], line["task_id"]) == ("s-1", "dlp", "t-1")


def test_an_exception_is_one_line_and_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.json-logs.exc")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError(f"failed with Bearer {PLANTED_TOKEN}")
    except RuntimeError:
        logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().count("\n") == 1
    line = json.loads(stream.getvalue())
    assert "RuntimeError" in line["exception"]
    assert PLANTED_TOKEN not in line["exception"]


def test_http_request_lines_are_written_only_when_debugging() -> None:
    # httpx logs every request at INFO, a batch file's pre-signed URL included
    assert library_levels(logging.INFO) == {"httpx": logging.WARNING, "httpcore": logging.WARNING}
    assert library_levels(logging.ERROR) == {"httpx": logging.ERROR, "httpcore": logging.ERROR}
    assert library_levels(logging.DEBUG) == {"httpx": logging.DEBUG, "httpcore": logging.DEBUG}


def test_plain_text_is_left_alone() -> None:
    text = "source 0123456789abcdef moved to Collecting after 3 pages (dlp, siem)"
    assert redact(text) == text


def test_a_task_s_records_are_not_logged_with_its_success() -> None:
    # Celery's success line carries the return value; a fetch returns records.
    returned = "{'records': [{'senderEnvelope': 'alice@corp.example'}]}"
    data = {
        "id": "t-2",
        "name": "tasks.fetch.fetch",
        "return_value": returned,
        "runtime": 0.1,
        "args": "(x,)",
    }
    line = render(
        "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
        data,
        logger_name="celery.app.trace",
        data=data,
    )
    assert "alice@corp.example" not in json.dumps(line)
    assert line["message"] == "Task tasks.fetch.fetch[t-2] succeeded in 0.1s: (not logged)"
    assert line["data"] == {"id": "t-2", "name": "tasks.fetch.fetch", "runtime": 0.1}
