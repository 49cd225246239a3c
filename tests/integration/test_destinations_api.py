"""Destinations as managed resources over the API: CRUD with ETags, secrets encrypted and masked,
collectors routing by name, and deletion refused while a collector routes to a destination.

One deployment for the module (Redis and the API, real processes over a real socket); each test
uses names of its own. The last check sweeps Redis, the logs and every response for the secrets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.store.destinations import DestinationStore
from core.store.secrets import MASK, SecretBox
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.celery_worker import TEST_SECRETS_KEY
from tests.support.stack import Stack, every_value, running_stack

pytestmark = pytest.mark.xdist_group("destinations-api")
SECRETS: list[str] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("destinations")) as running:
        yield running
        stored = b"\n".join(value for _, value in every_value(running.redis()))
        logs, answered = running.logs().encode(), running.responses()
        for secret in SECRETS:
            assert secret.encode() not in stored, "a destination secret is stored in clear"
            assert secret.encode() not in logs, "a destination secret is in the logs"
            assert secret.encode() not in answered, "a destination secret is in a response"


@pytest.fixture
def api(stack: Stack) -> httpx.Client:
    return stack.client()


def secret() -> str:
    made = f"secret-{uuid.uuid4().hex}"
    SECRETS.append(made)
    return made


def name() -> str:
    return f"dest-{uuid.uuid4().hex[:8]}"


def create(api: httpx.Client, kind: str, config: dict[str, Any], called: str | None = None) -> httpx.Response:
    return api.post(
        "/destinations", json={"destination": {"name": called or name(), "type": kind, "config": config}}
    )


EXAMPLES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("file", {"path": "/var/lib/mimecast-source/out"}, []),
    ("sumo", {"url": "https://collectors.example.com/receiver/v1/http/TOKEN"}, ["url"]),
    (
        "splunkHec",
        {"url": "https://splunk.example.com:8088", "token": "T", "index": "mail", "ack": True},
        ["token"],
    ),
    ("syslog", {"host": "siem.example.com", "port": 6514, "tls": {"caFile": "/etc/ssl/ca.pem"}}, []),
    (
        "s3",
        {"bucket": "logs", "region": "eu-west-1", "accessKeyId": "AKIA", "secretAccessKey": "S"},
        ["secretAccessKey"],
    ),
    ("http", {"url": "https://logs.example.com/in", "headers": {"Authorization": "A"}, "gzip": False}, []),
]


@pytest.mark.parametrize(("kind", "config", "secret_fields"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_type_is_created_with_its_secrets_masked_and_read_back_with_an_etag(
    api: httpx.Client, kind: str, config: dict[str, Any], secret_fields: list[str]
) -> None:
    given = dict(config)
    for field in secret_fields:
        given[field] = f"{config[field]}-{secret()}"  # a sumo URL holds its token in the path
    if kind == "http":
        given["headers"] = {"Authorization": f"Bearer {secret()}"}
    made = create(api, kind, given)
    assert made.status_code == 201, made.text
    shown = made.json()["destination"]
    for field in secret_fields:
        assert shown["config"][field] == MASK
    if kind == "http":
        assert shown["config"]["headers"] == {"Authorization": MASK}
    assert shown["health"]["status"] == "unknown"
    read = api.get(f"/destinations/{shown['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == made.headers["etag"]
    assert read.json()["destination"] == shown
    assert shown["id"] in [d["id"] for d in api.get("/destinations").json()["destinations"]]


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("splunkHec", {"url": "https://splunk:8088"}, "destination.config.token"),
        ("splunkHec", {"url": "ftp://splunk", "token": "t"}, "destination.config.url"),
        ("syslog", {"host": "h", "port": 70000}, "destination.config.port"),
        ("syslog", {"host": "h", "facility": "local9"}, "destination.config.facility"),
        ("s3", {"bucket": "b", "accessKeyId": "AKIA"}, "destination.config.secretAccessKey"),
        (
            "http",
            {"url": "https://x", "headers": {"Content-Length": "1"}},
            "destination.config.headers.Content-Length",
        ),
        ("http", {"url": "https://x", "colour": "red"}, "destination.config.colour"),
        ("splunkHec", {"url": "https://splunk:8088", "token": MASK}, "destination.config.token"),
    ],
)
def test_a_bad_config_is_refused_with_400_naming_the_field(
    api: httpx.Client, kind: str, config: dict[str, Any], field: str
) -> None:
    refused = create(api, kind, config)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "destinations.validation.failed"
    assert refused.json()["message"].startswith(f"{field}:")


def test_an_unknown_type_and_a_duplicate_name_are_refused(api: httpx.Client) -> None:
    unknown = create(api, "kafka", {})
    assert unknown.status_code == 400
    assert "destination.type" in unknown.json()["message"]
    called = name()
    assert create(api, "file", {"path": "/tmp/a"}, called).status_code == 201
    again = create(api, "file", {"path": "/tmp/b"}, called.upper())
    assert again.status_code == 409


def test_an_update_needs_the_current_etag_and_keeps_a_secret_sent_back_masked(
    api: httpx.Client, stack: Stack
) -> None:
    token = secret()
    made = create(api, "splunkHec", {"url": "https://splunk:8088", "token": token})
    destination = made.json()["destination"]
    changed = {**destination, "config": {**destination["config"], "index": "mail"}}
    stale = api.put(
        f"/destinations/{destination['id']}", json={"destination": changed}, headers={"If-Match": '"nope"'}
    )
    assert stale.status_code == 412
    updated = api.put(
        f"/destinations/{destination['id']}",
        json={"destination": changed},
        headers={"If-Match": made.headers["etag"]},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["destination"]["config"]["token"] == MASK
    assert updated.json()["destination"]["config"]["index"] == "mail"
    assert updated.headers["etag"] != made.headers["etag"]
    # The stored token is still the one given at creation (as a worker resolves it)
    store = DestinationStore(stack.redis(), SecretBox(TEST_SECRETS_KEY))
    assert store.resolve(destination["name"])[1]["token"] == token


def test_collectors_route_by_name_and_a_routed_destination_cannot_be_deleted(api: httpx.Client) -> None:
    called = name()
    destination = create(api, "file", {"path": "/tmp/out"}, called).json()["destination"]
    # A collector naming a destination that does not exist is refused
    unknown = api.post(
        "/collectors",
        json={"collector": {"collectorType": "Hosted", "name": name(), "destinations": ["nope"]}},
    )
    assert unknown.status_code == 400
    assert "no destination named 'nope'" in unknown.json()["message"]
    # A collector routed to it (the name matches case-insensitively) shows the route
    made = api.post(
        "/collectors",
        json={"collector": {"collectorType": "Hosted", "name": name(), "destinations": [called.upper()]}},
    )
    assert made.status_code == 201, made.text
    collector = made.json()["collector"]
    assert collector["destinations"] == [called.upper()]
    # While it routes there, the destination stays
    refused = api.delete(f"/destinations/{destination['id']}")
    assert refused.status_code == 409
    assert collector["name"] in refused.json()["message"]
    renamed = api.put(
        f"/destinations/{destination['id']}", json={"destination": {**destination, "name": name()}}
    )
    assert renamed.status_code == 409
    # Routed back to the default, it can go
    del collector["destinations"]
    assert api.put(f"/collectors/{collector['id']}", json={"collector": collector}).status_code == 200
    assert api.delete(f"/destinations/{destination['id']}").status_code == 200
    assert api.get(f"/destinations/{destination['id']}").status_code == 404


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "MIMECAST_SOURCE_API_URL": stack.api.url,
        "API_ACCESS_ID": ADMIN_ID,
        "API_ACCESS_KEY": ADMIN_KEY,
    }
    command = [sys.executable, "-c", "from cli.main import main; main()", "destinations", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)


def test_the_cli_creates_shows_updates_lists_and_deletes_a_destination(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    called, token = name(), secret()
    body = {"name": called, "type": "splunkHec", "config": {"url": "https://splunk:8088", "token": token}}
    (tmp_path / "splunk.json").write_text(json.dumps(body))
    made = cli(stack, "create", "-f", str(tmp_path / "splunk.json"))
    assert made.returncode == 0, made.stderr
    assert made.stdout.split("\t")[1:] == [called, "splunkHec", "unknown\n"]
    shown = cli(stack, "show", called, "--json")
    assert json.loads(shown.stdout)["destination"]["config"]["token"] == MASK
    body["config"] = {**json.loads(shown.stdout)["destination"]["config"], "index": "mail"}
    (tmp_path / "splunk.json").write_text(json.dumps({"destination": body}))
    assert cli(stack, "update", called, "-f", str(tmp_path / "splunk.json")).returncode == 0
    assert called in cli(stack, "list").stdout
    # Routed to by a collector, it cannot be deleted (exit 4: rejected)
    routed = {"collectorType": "Hosted", "name": name(), "destinations": [called]}
    collector = api.post("/collectors", json={"collector": routed}).json()["collector"]
    refused = cli(stack, "delete", called)
    assert refused.returncode == 4
    assert "routed to by collector" in refused.stderr
    api.delete(f"/collectors/{collector['id']}")
    assert cli(stack, "delete", called).returncode == 0
    assert cli(stack, "show", called).returncode == 3
    store = DestinationStore(stack.redis(), SecretBox(TEST_SECRETS_KEY))
    assert [d.name for d in store.page()].count(called) == 0
