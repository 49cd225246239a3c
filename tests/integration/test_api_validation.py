# ruff: noqa: E501 (the table of bad inputs reads best one case a line)
"""Bad input gets a clear 4xx in the contract's shape, naming the field, and changes nothing.

The API runs as a real process over a real socket, with no worker: the start messages it queues
stay in Redis, where the last test reads them to prove they carry ids only.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.store import keys
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.stack import Stack, every_value, running_stack

pytestmark = pytest.mark.xdist_group("api-validation")

SECRET = "validation-secret-9f8e7d6c5b4a"
EXAMPLE: dict[str, Any] = {
    "api.version": "v1",
    "source": {
        "config": {
            "name": "Mimecast",
            "description": "Mimecast",
            "category": "Mimecast",
            "clientID": "validation-client",
            "clientSecret": SECRET,
            "dataCollection": ["siem", "dlp", "auditEvent", "holdMessageList"],
        },
        "schemaRef": {"type": "Mimecast"},
        "sourceType": "Universal",
    },
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API per test process: xdist may spread this module over several."""
    with running_stack(tmp_path_factory.mktemp("validation")) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: Stack) -> httpx.Client:
    return stack.client()


@pytest.fixture(scope="session")
def ids(api: httpx.Client) -> dict[str, str]:
    """A collector with one valid source, and a field: what the bad requests aim at."""
    collector = api.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": "validation"}})
    collector_id = collector.json()["collector"]["id"]
    source = api.post(f"/collectors/{collector_id}/sources", json=EXAMPLE)
    assert source.status_code == 201, source.text
    field = api.post("/fields", json={"fieldName": "team"})
    return {"cid": collector_id, "sid": source.json()["source"]["id"], "fid": field.json()["fieldId"]}


def config(**changes: Any) -> dict[str, Any]:
    """The example with `config` keys changed (a value of None removes the key)."""
    body = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is None:
            body["source"]["config"].pop(name, None)
        else:
            body["source"]["config"][name] = value
    return body


def source(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is None:
            body["source"].pop(name, None)
        else:
            body["source"][name] = value
    return body


def top(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def rule(**fields: Any) -> dict[str, Any]:
    return config(filters=[{"name": "r", "filterType": "Exclude", "regexp": ".*x.*", **fields}])


SOURCES = "/collectors/{cid}/sources"
SOURCE = "/collectors/{cid}/sources/{sid}"
# (case id, method, path, JSON body, expected status, expected code, text the message must contain)
CASES: list[tuple[str, str, str, Any, int, str, str]] = [
    ("missing clientID", "POST", SOURCES, config(clientID=None), 400, "sources.validation.failed", "source.config.clientID: field required"),
    ("missing clientSecret", "POST", SOURCES, config(clientSecret=None), 400, "sources.validation.failed", "source.config.clientSecret: field required"),
    ("missing name", "POST", SOURCES, config(name=None), 400, "sources.validation.failed", "source.config.name: field required"),
    ("missing dataCollection", "POST", SOURCES, config(dataCollection=None), 400, "sources.validation.failed", "source.config.dataCollection: field required"),
    ("empty dataCollection", "POST", SOURCES, config(dataCollection=[]), 400, "sources.validation.failed", "source.config.dataCollection: must not be empty"),
    ("unknown dataCollection value", "POST", SOURCES, config(dataCollection=["siem", "smtp"]), 400, "sources.validation.failed",
     "source.config.dataCollection: unknown value 'smtp'; allowed: siem, dlp, auditEvent, holdMessageList, ttpUrl, "
     "ttpAttachment, ttpImpersonation, archiveSearch, holdReleaseLog, cloudIntegrated, threatIntelCustomer, threatIntelGrid"),
    ("repeated dataCollection value", "POST", SOURCES, config(dataCollection=["dlp", "dlp"]), 400, "sources.validation.failed", "source.config.dataCollection: each value may appear once"),
    ("dataCollection not a list", "POST", SOURCES, config(dataCollection=7), 400, "sources.validation.failed", "source.config.dataCollection: must be a list"),
    ("name not a string", "POST", SOURCES, config(name=12), 400, "sources.validation.failed", "source.config.name: must be a string"),
    ("blank name", "POST", SOURCES, config(name="   "), 400, "sources.validation.failed", "source.config.name: must not be blank"),
    ("name too long", "POST", SOURCES, config(name="n" * 129), 400, "sources.validation.failed", "source.config.name: string should have at most 128 characters"),
    ("empty clientSecret", "POST", SOURCES, config(clientSecret=""), 400, "sources.validation.failed", "source.config.clientSecret: must not be empty"),
    ("clientID with spaces", "POST", SOURCES, config(clientID="my client"), 400, "sources.validation.failed", "source.config.clientID: must not contain spaces"),
    ("description not a string", "POST", SOURCES, config(description=["x"]), 400, "sources.validation.failed", "source.config.description: must be a string"),
    ("missing config", "POST", SOURCES, source(config=None), 400, "sources.validation.failed", "source.config: field required"),
    ("missing source", "POST", SOURCES, top(source=None), 400, "sources.validation.failed", "source: field required"),
    ("missing schemaRef", "POST", SOURCES, source(schemaRef=None), 400, "sources.validation.failed", "source.schemaRef: field required"),
    ("another schemaRef", "POST", SOURCES, source(schemaRef={"type": "Okta"}), 400, "sources.validation.failed", "source.schemaRef: must be 'Mimecast'"),
    ("another sourceType", "POST", SOURCES, source(sourceType="HTTP"), 400, "sources.validation.failed", "source.sourceType: must be 'Universal'"),
    ("another api.version", "POST", SOURCES, top(**{"api.version": "v2"}), 400, "sources.validation.failed", "api.version: must be 'v1'"),
    ("misspelt config key", "POST", SOURCES, config(clientId="x"), 400, "sources.validation.failed", "source.config.clientId: unknown field"),
    ("unknown top-level key", "POST", SOURCES, top(sources={}), 400, "sources.validation.failed", "sources: unknown field"),
    ("fields not an object", "POST", SOURCES, config(fields=["team"]), 400, "sources.validation.failed", "source.config.fields: must be an object"),
    ("_siemForward not a boolean", "POST", SOURCES, config(fields={"_siemForward": "yes"}), 400, "sources.validation.failed", "source.config.fields: _siemForward must be a boolean"),
    ("field name with a space", "POST", SOURCES, config(fields={"my team": "x"}), 400, "sources.validation.failed", "source.config.fields: field names are"),
    ("field value an object", "POST", SOURCES, config(fields={"team": {"a": 1}}), 400, "sources.validation.failed", "source.config.fields: the value of team must be"),
    ("too many fields", "POST", SOURCES, config(fields={f"f{i}": "x" for i in range(31)}), 400, "sources.validation.failed", "source.config.fields: at most 30 fields"),
    ("regexp that does not compile", "POST", SOURCES, rule(regexp="(abc"), 400, "sources.validation.failed",
     "source.config.filters[0].regexp: does not compile as an RE2 regular expression"),
    ("regexp with a lookbehind (not RE2)", "POST", SOURCES, rule(regexp="(?<=a)b"), 400, "sources.validation.failed",
     "source.config.filters[0].regexp: does not compile as an RE2 regular expression"),
    ("regexp with a backreference (not RE2)", "POST", SOURCES, rule(regexp=r"(a)\1"), 400, "sources.validation.failed",
     "source.config.filters[0].regexp: does not compile"),
    ("mask rule without a capture group", "POST", SOURCES, rule(filterType="Mask", regexp=".*ip.*"), 400, "sources.validation.failed",
     "source.config.filters[0].regexp: a Mask rule needs at least one capture group"),
    ("unknown filterType", "POST", SOURCES, rule(filterType="Drop"), 400, "sources.validation.failed",
     "source.config.filters[0].filterType: unknown filterType; allowed: Include, Exclude, Mask, Hash"),
    ("rule without regexp", "POST", SOURCES, rule(regexp=None), 400, "sources.validation.failed", "source.config.filters[0].regexp"),
    ("collectFrom a word", "POST", SOURCES, config(collectFrom="yesterday"), 400, "sources.validation.failed",
     "source.config.collectFrom: must be an ISO 8601 time with a time zone (2026-11-01T00:00:00Z) or a duration such as 7d"),
    ("collectFrom without a zone", "POST", SOURCES, config(collectFrom="2026-01-01T00:00:00"), 400, "sources.validation.failed",
     "source.config.collectFrom: needs a time zone"),
    ("collectFrom in the future", "POST", SOURCES, config(collectFrom="2999-01-01T00:00:00Z"), 400, "sources.validation.failed",
     "source.config.collectFrom: is in the future"),
    ("collectFrom not a string", "POST", SOURCES, config(collectFrom=7), 400, "sources.validation.failed", "source.config.collectFrom: must be a string"),
    ("siemMode unknown", "POST", SOURCES, config(siemMode="fast"), 400, "sources.validation.failed",
     "source.config.siemMode: unknown value 'fast'; allowed: batch, streaming, auto"),
    ("siemMode not a string", "POST", SOURCES, config(siemMode=True), 400, "sources.validation.failed",
     "source.config.siemMode: must be a string"),
    ("siemStreaming is no field", "PUT", SOURCE, config(siemStreaming=True), 400, "sources.validation.failed",
     "source.config.siemStreaming"),
    ("body a JSON list", "POST", SOURCES, [EXAMPLE], 400, "sources.validation.failed", "body: must be"),
    ("update changes sourceType", "PUT", SOURCE, source(sourceType="HTTP"), 400, "sources.validation.failed", "source.sourceType: not modifiable"),
    ("update changes schemaRef", "PUT", SOURCE, source(schemaRef={"type": "Okta"}), 400, "sources.validation.failed", "source.schemaRef: not modifiable"),
    ("update names another id", "PUT", SOURCE, source(id="0123456789abcdef"), 400, "sources.validation.failed", "source.id: does not match the path"),
    ("update with an empty secret", "PUT", SOURCE, config(clientSecret=""), 400, "sources.validation.failed", "source.config.clientSecret: must not be empty"),
    ("name clash", "POST", SOURCES, EXAMPLE, 409, "sources.name.duplicate", "already exists"),
    ("unknown collector", "POST", "/collectors/0000000000000000/sources", EXAMPLE, 404, "collectors.not.found", "collector 0000000000000000"),
    ("unknown source", "GET", "/collectors/{cid}/sources/0000000000000000", None, 404, "sources.not.found", "source 0000000000000000"),
    ("restart of an unknown source", "POST", "/collectors/{cid}/sources/0000000000000000/action/restart", None, 404, "sources.not.found", "not found"),
    ("collector of another type", "POST", "/collectors", {"collector": {"collectorType": "Installed", "name": "x"}}, 400,
     "collectors.validation.failed", "collector.collectorType: must be 'Hosted'"),
    ("collector without a name", "POST", "/collectors", {"collector": {"collectorType": "Hosted"}}, 400, "collectors.validation.failed", "collector.name: field required"),
    ("limit zero", "GET", "/collectors?limit=0", None, 400, "collectors.validation.failed", "limit: "),
    ("limit not a number", "GET", "/collectors/{cid}/sources?limit=ten", None, 400, "sources.validation.failed", "limit: must be an integer"),
    ("negative offset", "GET", "/collectors?offset=-1", None, 400, "collectors.validation.failed", "offset: "),
    ("health page token we never gave", "GET", "/healthEvents?token=bm9wZQ", None, 400, "healthevents.validation.failed", "token: not a page token"),
    ("health resources without data", "POST", "/healthEvents/resources", {"data": []}, 400, "healthevents.validation.failed", "data: must not be empty"),
    ("health resource of another type", "POST", "/healthEvents/resources", {"data": [{"id": "x", "type": "User"}]}, 400,
     "healthevents.validation.failed", "data[0].type: must be 'Source' or 'Collector'"),
    ("field name with a space", "POST", "/fields", {"fieldName": "my team"}, 400, "fields.validation.failed", "fieldName: "),
    ("field name of a built-in", "POST", "/fields", {"fieldName": "_siemForward"}, 400, "fields.validation.failed", "fieldName: names starting with '_' are built-in"),
    ("field name taken", "POST", "/fields", {"fieldName": "TEAM"}, 409, "fields.name.duplicate", "already exists"),
    ("unknown field", "DELETE", "/fields/NOPE", None, 404, "fields.not.found", "field NOPE"),
    ("unknown route", "GET", "/collectors/{cid}/nothing", None, 404, "route.not.found", "no route"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "text"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_a_4xx_naming_the_field(
    api: httpx.Client,
    ids: dict[str, str],
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    text: str,
) -> None:
    response = api.request(method, path.format(**ids), json=body)

    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"status", "id", "code", "message"}
    assert answer["status"] == status
    assert answer["code"] == code
    assert text in answer["message"]


def test_the_table_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_the_whole_table_stores_nothing(stack: Stack, api: httpx.Client, ids: dict[str, str]) -> None:
    """Every bad request of the table, one after the other: Redis is byte for byte as it was."""
    before = sorted(every_value(stack.redis()))
    for _, method, path, body, status, _, _ in CASES:
        assert api.request(method, path.format(**ids), json=body).status_code == status
    assert sorted(every_value(stack.redis())) == before
    sources = api.get(f"/collectors/{ids['cid']}/sources").json()["sources"]
    assert [(s["id"], s["config"]["name"]) for s in sources] == [(ids["sid"], "Mimecast")]


def test_a_body_that_is_not_json_is_a_400_and_a_non_json_media_type_a_415(
    api: httpx.Client, ids: dict[str, str]
) -> None:
    path = f"/collectors/{ids['cid']}/sources"
    broken = api.post(path, content=b'{"source": ', headers={"Content-Type": "application/json"})
    form = api.post(path, content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    latin = api.post(
        path, content=json.dumps(EXAMPLE), headers={"Content-Type": "application/json; charset=latin-1"}
    )

    assert broken.status_code == 400
    assert broken.json()["message"].startswith("body")
    assert (form.status_code, form.json()["code"]) == (415, "request.mediatype.unsupported")
    assert latin.status_code == 415


def test_an_oversized_body_is_a_413_declared_or_streamed(api: httpx.Client, ids: dict[str, str]) -> None:
    path = f"/collectors/{ids['cid']}/sources"
    huge = config(description="d" * (2 * 1024 * 1024))
    declared = api.post(path, json=huge)

    def chunks() -> Iterator[bytes]:
        payload = json.dumps(huge).encode()
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    streamed = api.post(path, content=chunks(), headers={"Content-Type": "application/json"})

    assert (declared.status_code, declared.json()["code"]) == (413, "request.body.too_large")
    assert streamed.status_code == 413


def test_a_method_a_route_does_not_serve_is_a_405_listing_the_allowed_ones(api: httpx.Client) -> None:
    response = api.patch("/collectors", json={})
    assert response.status_code == 405
    assert response.json()["code"] == "method.not.allowed"
    assert response.headers["Allow"] == "GET, POST"


def operations(api: httpx.Client, ids: dict[str, str]) -> list[tuple[str, str]]:
    document = api.get("/openapi.json").json()
    values = {
        "collector_id": ids["cid"],
        "source_id": ids["sid"],
        "field_id": ids["fid"],
        "destination_id": "any-destination",
    }
    found = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue  # the liveness probe
        for method in item:
            found.append((method.upper(), path.removeprefix("/api/v1").format(**values)))
    return found


@pytest.mark.parametrize(
    "auth",
    [None, (ADMIN_ID, "wrong-key"), ("unknown-id", ADMIN_KEY), ("", "")],
    ids=["anonymous", "wrong key", "unknown id", "empty"],
)
def test_every_route_refuses_calls_without_valid_credentials(
    stack: Stack, api: httpx.Client, ids: dict[str, str], auth: tuple[str, str] | None
) -> None:
    routes = [*operations(api, ids), ("GET", "/openapi.json")]
    assert len(routes) >= 19
    with httpx.Client(base_url=f"{stack.api.url}/api/v1", auth=auth, timeout=30) as caller:
        for method, path in routes:
            response = caller.request(method, path, json={} if method in ("POST", "PUT") else None)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_malformed_authorization_headers_are_refused(stack: Stack) -> None:
    for header in (
        "Bearer abc",
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ):
        response = httpx.get(f"{stack.api.url}/api/v1/collectors", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_the_liveness_probe_needs_no_credentials(stack: Stack) -> None:
    assert httpx.get(f"{stack.api.url}/health").json() == {"status": "ok"}


def test_queued_start_messages_carry_ids_only_and_nothing_holds_the_secret_in_clear(
    stack: Stack, api: httpx.Client, ids: dict[str, str]
) -> None:
    redis = stack.redis()
    messages = [json.loads(raw) for raw in redis.lrange("celery", 0, -1)]
    starts = [m for m in messages if m["headers"]["task"] == "tasks.lifecycle.start_source"]
    assert starts, "the create queued a start"
    for message in starts:
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert args == [ids["sid"], 1]
        assert kwargs == {}
        assert SECRET not in json.dumps(message["headers"])
    stored = b"\n".join(value for _, value in every_value(redis))
    assert SECRET.encode() not in stored
    assert redis.get(keys.source_secret(ids["sid"])) is not None  # it is there, encrypted
    assert SECRET.encode() not in stack.responses()
    assert SECRET not in stack.logs()
    assert "Traceback" not in stack.logs()
