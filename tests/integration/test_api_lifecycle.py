"""The life of a Mimecast Source over the management API, with a real worker and the simulator.

One deployment for the module (Redis, simulator, one Celery worker, the API), every call over a
real socket. Each test makes its own collector and its own Mimecast credential, so they do not
depend on each other; the last test sweeps everything this module produced for clear secrets.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from cli.main import main
from core.store import keys
from core.store.coordination import Coordination
from core.store.secrets import MASK
from tests.support.api_server import ADMIN_KEY
from tests.support.product_example import PRODUCT_EXAMPLE
from tests.support.stack import PRODUCT_EXAMPLE_SECRET, Stack, every_value, running_stack, wait_for

pytestmark = pytest.mark.xdist_group("api-lifecycle")

JSON = {"Content-Type": "application/json"}
# Every secret this module hands out; none may be found in clear afterwards. (The product
# example's secret equals its clientID, which is shown on purpose, so it cannot be swept for.)
SECRETS: list[str] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One deployment per test process (xdist may spread this module over several), swept for
    clear secrets when the session ends, whichever tests ran on it."""
    with running_stack(tmp_path_factory.mktemp("lifecycle"), workers=1, simulator=True) as running:
        yield running
        assert_no_clear_secret(running)


def assert_no_clear_secret(stack: Stack) -> None:
    """Every Redis key, both processes' logs and every response: no secret of this module in clear."""
    stored = b"\n".join(value for _, value in every_value(stack.redis()))
    logs = stack.logs().encode()
    answered = stack.responses()
    for secret in [*SECRETS, ADMIN_KEY]:
        needle = secret.encode()
        assert needle not in stored, "a secret is stored in clear"
        assert needle not in logs, "a secret is in the logs"
        assert needle not in answered, "a secret is in a response"
    # The product example's secret doubles as its client id, which is shown on purpose; check
    # only that no response shows it as a secret.
    assert f'"clientSecret":"{PRODUCT_EXAMPLE_SECRET}"'.encode() not in answered
    assert b"Traceback" not in logs


@pytest.fixture
def api(stack: Stack) -> httpx.Client:
    return stack.client()


def credential(stack: Stack) -> tuple[str, str]:
    """A fresh Mimecast client id and secret that the simulator accepts."""
    client_id, secret = f"client-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4().hex}"
    stack.add_mimecast_client(client_id, secret)
    SECRETS.append(secret)
    return client_id, secret


def collector(api: httpx.Client) -> str:
    response = api.post(
        "/collectors", json={"collector": {"collectorType": "Hosted", "name": uuid.uuid4().hex}}
    )
    assert response.status_code == 201, response.text
    collector_id: str = response.json()["collector"]["id"]
    return collector_id


def source_body(name: str, client_id: str, secret: str | None, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(PRODUCT_EXAMPLE)
    body["source"]["config"].update(name=name, clientID=client_id, **config)
    if secret is None:
        del body["source"]["config"]["clientSecret"]
    else:
        body["source"]["config"]["clientSecret"] = secret
    return body


def create(api: httpx.Client, collector_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/collectors/{collector_id}/sources", json=body)
    assert response.status_code == 201, response.text
    source: dict[str, Any] = response.json()["source"]
    return source


def state_of(api: httpx.Client, collector_id: str, source_id: str) -> dict[str, Any]:
    response = api.get(f"/collectors/{collector_id}/sources/{source_id}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()["source"]["state"]
    return state


def reaches(
    api: httpx.Client, collector_id: str, source_id: str, state: str, timeout: float = 20.0
) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (seen := state_of(api, collector_id, source_id))["state"] == state and seen,
        timeout=timeout,
        what=f"state {state}",
    )
    return found


def authenticated(
    api: httpx.Client, collector_id: str, source_id: str, before: int = 0, timeout: float = 20.0
) -> dict[str, Any]:
    """The `Authenticated` entry of the history (newest first) that came after its first `before`
    entries, once there is one: a start hands the source to collection at once, whose first page
    may move it on to `Collecting` before anyone looks at its state."""

    def latest() -> dict[str, Any] | None:
        entries = history(api, collector_id, source_id)
        return next((e for e in entries[: len(entries) - before] if e["state"] == "Authenticated"), None)

    found: dict[str, Any] = wait_for(
        latest,
        timeout=timeout,
        what="state Authenticated",
    )
    return found


def history(api: httpx.Client, collector_id: str, source_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/collectors/{collector_id}/sources/{source_id}/history")
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()["history"]
    return entries


def open_events(api: httpx.Client, source_id: str) -> list[dict[str, Any]]:
    events = api.get("/healthEvents", params={"limit": 1000}).json()["data"]
    return [event for event in events if event["resourceIdentity"]["id"] == source_id]


def token_calls(stack: Stack) -> int:
    assert stack.simulator is not None
    calls: int = stack.simulator.state()["calls"].get("token", 0)
    return calls


def test_the_product_reference_json_lives_through_create_get_update_restart_and_delete(
    stack: Stack, api: httpx.Client
) -> None:
    collector_id = collector(api)

    # Create: the reference JSON as it is. Its credentials are placeholders, so Mimecast says 401.
    created = api.post(f"/collectors/{collector_id}/sources", content=PRODUCT_EXAMPLE, headers=JSON)
    assert created.status_code == 201, created.text
    source = created.json()["source"]
    source_id = source["id"]
    assert source["state"]["state"] == "Pending"
    assert source["config"]["clientSecret"] == MASK
    assert source["config"]["dataCollection"] == ["siem", "dlp", "auditEvent", "holdMessageList"]
    assert (source["schemaRef"], source["sourceType"]) == ({"type": "Mimecast"}, "Universal")
    assert created.headers["ETag"]

    failed = reaches(api, collector_id, source_id, "Error")
    assert failed["error"]["type"] == "ThirdPartyConfig"
    assert failed["error"]["code"] == 401
    assert "Client credentials are invalid" in failed["error"]["message"]
    [event] = open_events(api, source_id)
    assert event["eventName"] == "ThirdPartyConfigError"
    assert (event["status"], event["severityLevel"]) == ("UnHealthy", "Error")
    assert "401" in event["details"]["description"]
    assert "Client credentials are invalid" in event["details"]["description"]
    assert event["resourceIdentity"]["collectorId"] == collector_id
    assert [entry["state"] for entry in history(api, collector_id, source_id)] == [
        "Error",
        "Initialized",
        "Started",
        "Pending",
    ]

    # Nothing retries a configuration error.
    calls = token_calls(stack)
    wait_seconds = 1.5
    with pytest.raises(TimeoutError):
        wait_for(lambda: token_calls(stack) > calls, timeout=wait_seconds)
    assert state_of(api, collector_id, source_id)["state"] == "Error"

    # Update (with the ETag) to working credentials: the way out of the error.
    client_id, secret = credential(stack)
    current = api.get(f"/collectors/{collector_id}/sources/{source_id}")
    before = len(history(api, collector_id, source_id))
    body = source_body("Mimecast", client_id, secret)
    updated = api.put(
        f"/collectors/{collector_id}/sources/{source_id}",
        json=body,
        headers={"If-Match": current.headers["ETag"]},
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] != current.headers["ETag"]
    assert updated.json()["source"]["config"]["clientID"] == client_id
    authenticated(api, collector_id, source_id, before)
    assert "since" in state_of(api, collector_id, source_id)
    assert open_events(api, source_id) == []
    recent = api.post("/healthEvents/resources", json={"data": [{"id": source_id, "type": "Source"}]})
    assert [(e["eventName"], e["status"]) for e in recent.json()["data"]] == [
        ("SourceHealthy", "Healthy"),
        ("ThirdPartyConfigError", "UnHealthy"),
    ]

    # A PUT that omits the secret, or sends the mask back, keeps the stored one: still accepted.
    for kept in (None, MASK):
        before = len(history(api, collector_id, source_id))
        response = api.put(
            f"/collectors/{collector_id}/sources/{source_id}", json=source_body("Mimecast", client_id, kept)
        )
        assert response.status_code == 200, response.text
        authenticated(api, collector_id, source_id, before)

    # Restart from the stored checkpoints.
    before = len(history(api, collector_id, source_id))
    restarted = api.post(f"/collectors/{collector_id}/sources/{source_id}/action/restart")
    assert restarted.status_code == 202
    assert restarted.json()["source"]["state"]["state"] == "Pending"
    authenticated(api, collector_id, source_id, before)
    reasons = [entry["reason"] for entry in history(api, collector_id, source_id)]
    assert "restarted" in reasons
    assert "updated" in reasons

    # Delete: Stopping, then gone with everything under it.
    deleted = api.delete(f"/collectors/{collector_id}/sources/{source_id}")
    assert deleted.status_code == 200
    wait_for(
        lambda: api.get(f"/collectors/{collector_id}/sources/{source_id}").status_code == 404, what="removal"
    )
    assert list(stack.redis().scan_iter(match=keys.source_pattern(source_id))) == []
    assert api.get(f"/collectors/{collector_id}/sources").json()["sources"] == []


def test_a_revoked_credential_stops_the_source_in_error_at_start_and_restart_without_retries(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    assert stack.simulator is not None
    stack.simulator.control.post(f"/_sim/clients/{client_id}/revoke").raise_for_status()
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("revoked", client_id, secret))["id"]

    for restarted in (False, True):
        failed = reaches(api, collector_id, source_id, "Error")
        assert failed["error"]["type"] == "ThirdPartyConfig"
        assert "Client credentials are invalid" in failed["error"]["message"]
        entries = len(history(api, collector_id, source_id))
        calls = token_calls(stack)
        with pytest.raises(TimeoutError):
            wait_for(
                lambda calls=calls, entries=entries: (
                    token_calls(stack) > calls or len(history(api, collector_id, source_id)) > entries
                ),
                timeout=1.0,
            )
        if not restarted:
            # No token was ever cached for these credentials: the restart asks Mimecast again.
            api.post(f"/collectors/{collector_id}/sources/{source_id}/action/restart").raise_for_status()
            wait_for(lambda calls=calls: token_calls(stack) > calls, what="the restart's token request")


def test_a_restart_an_update_and_a_reset_reuse_the_cached_token_and_a_new_secret_asks_for_one(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("reuse", client_id, secret))["id"]
    assert authenticated(api, collector_id, source_id)["reason"] == "Mimecast accepted the credentials"
    calls = token_calls(stack)
    path = f"/collectors/{collector_id}/sources/{source_id}"

    # Restart, update (the secret kept) and reset each start the source again, on the cached token.
    starts = [
        lambda: api.post(f"{path}/action/restart"),
        lambda: api.put(path, json=source_body("reuse", client_id, None, description="kept secret")),
        lambda: api.post(f"{path}/action/reset", json={"startTime": "2026-01-01T00:00:00Z"}),
    ]
    for start in starts:
        before = len(history(api, collector_id, source_id))
        answer = start()
        assert answer.status_code in (200, 202), answer.text
        latest = authenticated(api, collector_id, source_id, before)
        assert latest["reason"] == "Mimecast accepted the credentials: their cached token is still valid"
    assert token_calls(stack) == calls

    # A new secret is a new credential: Mimecast is asked for a token, once. (Usually by the start;
    # collection, going on meanwhile with the stored secret, may ask first: the start then finds
    # that token cached.)
    rotated = f"secret-{uuid.uuid4().hex}"
    SECRETS.append(rotated)
    stack.add_mimecast_client(client_id, rotated)
    before = len(history(api, collector_id, source_id))
    answer = api.put(path, json=source_body("reuse", client_id, rotated))
    assert answer.status_code == 200, answer.text
    latest = authenticated(api, collector_id, source_id, before)
    assert latest["reason"].startswith("Mimecast accepted the credentials")
    assert token_calls(stack) == calls + 1


def test_delete_waits_for_in_flight_work_then_removes_the_source_its_checkpoints_and_its_secret(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("busy", client_id, secret))["id"]
    authenticated(api, collector_id, source_id)
    # What collection will leave behind: checkpoints, leases, epochs, due-set entries.
    redis = stack.redis()
    for name in ("siem", "dlp"):
        stream = keys.stream_of(source_id, name)
        redis.hset(keys.checkpoint(stream), mapping={"cursor": "{}", "version": 1})
        redis.set(keys.epoch(stream), 3)
        redis.set(keys.lease(stream), "holder")
        redis.zadd(keys.due_streams(), {stream: 1.0})
    redis.zadd(keys.due_streams(), {keys.stream_of("another-source", "siem"): 1.0})
    for child in (f"{keys.stream_of(source_id, 'siem')}@f.0123456789abcdef",):
        redis.hset(keys.checkpoint(child), mapping={"cursor": "{}", "version": 0})
        redis.sadd(keys.source_children_running(source_id), child)
        # Due later, unlike the leased streams: no worker may fetch from this stand-in cursor ("{}")
        # while the source still collects (it would fail the collection as an unreadable checkpoint).
        redis.zadd(keys.due_streams(), {child: time.time() + 3600})
    store = Coordination(redis)
    assert store.begin_work(source_id, "fetch-1", now_ms=0, ttl_ms=10**13)

    assert api.delete(f"/collectors/{collector_id}/sources/{source_id}").status_code == 200

    assert state_of(api, collector_id, source_id)["state"] == "Stopping"
    assert not store.begin_work(source_id, "fetch-2", now_ms=0, ttl_ms=10**13)  # no new work starts
    with pytest.raises(TimeoutError):
        wait_for(
            lambda: api.get(f"/collectors/{collector_id}/sources/{source_id}").status_code == 404, timeout=1.0
        )
    store.end_work(source_id, "fetch-1")
    wait_for(
        lambda: api.get(f"/collectors/{collector_id}/sources/{source_id}").status_code == 404, what="removal"
    )

    leftovers = [
        key
        for pattern in (keys.source_pattern(source_id), f"*{source_id}*")
        for key in redis.scan_iter(match=pattern)
    ]
    assert leftovers == []
    due = {member.decode() for member in redis.zrange(keys.due_streams(), 0, -1)}
    assert keys.stream_of("another-source", "siem") in due  # other sources' streams stay scheduled
    assert [stream for stream in due if stream.startswith(f"{source_id}:")] == []
    assert redis.exists(keys.source_secret(source_id)) == 0
    # The name is free again.
    create(api, collector_id, source_body("busy", client_id, secret))


def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(stack: Stack, api: httpx.Client) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("etag", client_id, secret))["id"]
    first = api.get(f"/collectors/{collector_id}/sources/{source_id}").headers["ETag"]
    api.put(f"/collectors/{collector_id}/sources/{source_id}", json=source_body("etag", client_id, None))

    stale = api.put(
        f"/collectors/{collector_id}/sources/{source_id}",
        json=source_body("renamed", client_id, None),
        headers={"If-Match": first},
    )

    assert stale.status_code == 412
    assert stale.json()["code"] == "request.precondition.failed"
    assert (
        api.get(f"/collectors/{collector_id}/sources/{source_id}").json()["source"]["config"]["name"]
        == "etag"
    )


def test_names_are_unique_per_collector_case_insensitively_even_under_concurrent_creates(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    statuses: list[int] = []

    def attempt() -> None:
        with stack.client() as own:
            statuses.append(
                own.post(
                    f"/collectors/{collector_id}/sources", json=source_body("same", client_id, secret)
                ).status_code
            )

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 11
    clash = api.post(f"/collectors/{collector_id}/sources", json=source_body("SAME", client_id, secret))
    assert clash.status_code == 409
    assert clash.json()["code"] == "sources.name.duplicate"
    assert len(api.get(f"/collectors/{collector_id}/sources").json()["sources"]) == 1
    create(api, collector(api), source_body("same", client_id, secret))  # another collector: fine


def test_sources_and_collectors_list_with_limit_and_offset(stack: Stack, api: httpx.Client) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    names = [f"s{index}" for index in range(5)]
    for name in names:
        create(api, collector_id, source_body(name, client_id, secret))

    page = api.get(f"/collectors/{collector_id}/sources", params={"limit": 2, "offset": 1}).json()["sources"]
    everything = api.get(f"/collectors/{collector_id}/sources").json()["sources"]

    assert [source["config"]["name"] for source in page] == ["s1", "s2"]
    assert [source["config"]["name"] for source in everything] == names
    assert all(source["config"]["clientSecret"] == MASK for source in everything)
    assert api.get("/collectors", params={"limit": 1}).json()["collectors"][0]["collectorType"] == "Hosted"


def test_collectors_get_update_with_etag_and_delete_with_all_their_sources(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_ids = [create(api, collector_id, source_body(f"c{i}", client_id, secret))["id"] for i in range(2)]
    got = api.get(f"/collectors/{collector_id}")
    body = {"collector": {**got.json()["collector"], "description": "mail logs"}}

    updated = api.put(f"/collectors/{collector_id}", json=body, headers={"If-Match": got.headers["ETag"]})
    stale = api.put(f"/collectors/{collector_id}", json=body, headers={"If-Match": got.headers["ETag"]})

    assert updated.status_code == 200, updated.text
    assert updated.json()["collector"]["description"] == "mail logs"
    assert stale.status_code == 412
    assert api.delete(f"/collectors/{collector_id}").status_code == 200
    assert api.get(f"/collectors/{collector_id}").status_code == 404
    for source_id in source_ids:
        wait_for(
            lambda sid=source_id: api.get(f"/collectors/{collector_id}/sources/{sid}").status_code == 404
        )
    wait_for(lambda: not stack.redis().exists(keys.collector(collector_id)), what="collector removal")


def test_custom_fields_outside_the_fields_schema_are_shown_as_dropped(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    name = f"team{uuid.uuid4().hex[:6]}"
    fields = {"_siemForward": True, name: "mail", "other": "x"}
    source_id = create(api, collector_id, source_body("fields", client_id, secret, fields=fields))["id"]

    created = api.post("/fields", json={"fieldName": name})
    again = api.post("/fields", json={"fieldName": name.upper()})
    shown = api.get(f"/collectors/{collector_id}/sources/{source_id}").json()["source"]

    assert created.status_code == 200
    assert again.status_code == 409
    assert shown["config"]["fields"] == fields
    assert shown["droppedFields"] == ["other"]
    field_id = created.json()["fieldId"]
    assert any(field["fieldName"] == name for field in api.get("/fields").json()["data"])
    assert api.delete(f"/fields/{field_id}").status_code == 204
    assert api.get(f"/fields/{field_id}").status_code == 404
    shown = api.get(f"/collectors/{collector_id}/sources/{source_id}").json()["source"]
    assert shown["droppedFields"] == sorted(["other", name])


def test_access_keys_made_on_the_command_line_work_until_revoked(stack: Stack) -> None:
    runner = CliRunner()
    env = {"REDIS_URL": stack.redis_server.url}
    made = runner.invoke(main, ["access-key", "create", "--label", "terraform"], env=env)
    assert made.exit_code == 0, made.output
    lines = dict(line.split(":", 1) for line in made.output.strip().splitlines())
    access_id, key = lines["access id"].strip(), lines["access key"].strip()
    SECRETS.append(key)

    with stack.client(auth=(access_id, key)) as own:
        assert own.get("/collectors").status_code == 200
        listed = runner.invoke(main, ["access-key", "list"], env=env)
        assert access_id in listed.output
        assert key not in listed.output
        assert runner.invoke(main, ["access-key", "revoke", access_id], env=env).exit_code == 0
        refused = own.get("/collectors")
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
    assert runner.invoke(main, ["access-key", "revoke", access_id], env=env).exit_code != 0


def test_a_started_source_collects_at_once_with_no_dispatch_tick(stack: Stack, api: httpx.Client) -> None:
    """No beat runs in this stack, so nothing dispatches: the start's hand-off itself starts the
    chains of the source's streams, and the first page delivered moves it to `Collecting`."""
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("at once", client_id, secret))["id"]
    authenticated(api, collector_id, source_id)
    reaches(api, collector_id, source_id, "Collecting")
    states = [entry["state"] for entry in history(api, collector_id, source_id)]
    assert states[:2] == ["Collecting", "Authenticated"]


def test_no_secret_is_stored_logged_or_answered_in_clear(stack: Stack, api: httpx.Client) -> None:
    """Sweeps what this process's deployment holds so far (the session's end sweeps it again)."""
    client_id, secret = credential(stack)
    collector_id = collector(api)
    source_id = create(api, collector_id, source_body("sweep", client_id, secret))["id"]
    authenticated(api, collector_id, source_id)
    assert_no_clear_secret(stack)


def test_a_mimecast_outage_at_start_is_retried_shown_as_a_warning_and_resolved_on_recovery(
    stack: Stack, api: httpx.Client
) -> None:
    client_id, secret = credential(stack)
    collector_id = collector(api)
    assert stack.simulator is not None
    # This client's next token request only: another test's source on the shared simulator must
    # not take the fault in its place.
    stack.simulator.fault("token", kind="status", status=503, count=1, client_id=client_id)

    source_id = create(api, collector_id, source_body("outage", client_id, secret))["id"]

    failed = reaches(api, collector_id, source_id, "Error")
    assert (failed["error"]["type"], failed["error"]["code"]) == ("ThirdPartyGeneric", 503)
    [event] = open_events(api, source_id)
    assert (event["eventName"], event["severityLevel"]) == ("ThirdPartyGenericError", "Warning")
    # Retried with backoff (5 s base, jittered), without any operator action.
    authenticated(api, collector_id, source_id, timeout=25)
    assert open_events(api, source_id) == []
    reasons = [entry["reason"] for entry in history(api, collector_id, source_id)]
    assert "start task picked it up (attempt 2)" in reasons
