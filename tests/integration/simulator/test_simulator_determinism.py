"""The data is a pure function of the seed: two simulators with one seed and one start serve the same."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

COLLECTIONS = ["siem", "dlp", "auditEvent", "holdMessageList"]
WIDE = ("2000-01-01T00:00:00+0000", "2100-01-01T00:00:00+0000")
# A fixed start and a frozen clock: what is available does not depend on when a process started.
SETTINGS = {
    "start": "2024-06-05T10:07:00Z",
    "backlog_hours": 1.5,
    "events_per_minute": 4,
    "clock_frozen": True,
}
TOKEN_FORM = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}

# httpx builds a TLS context for every client (~0.1 s each); these clients speak plain HTTP on
# loopback, so they share one context, built once.
TLS = ssl.create_default_context()


@pytest.fixture(scope="session")
def simulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimulatorProcess]]:
    """Two simulators with seed 11 and one with seed 12, all with the same start.

    Session-scoped, so that an xdist worker starts them once even when it runs this module's tests
    between tests of other modules."""
    log_dir = tmp_path_factory.mktemp("determinism")
    started = {
        "twin": SimulatorProcess(log_dir, seed=11, **SETTINGS),
        "other twin": SimulatorProcess(log_dir, seed=11, **SETTINGS),
        "other seed": SimulatorProcess(log_dir, seed=12, **SETTINGS),
    }
    try:
        with ThreadPoolExecutor() as pool:
            list(pool.map(SimulatorProcess.start, started.values()))
        yield started
    finally:
        for server in started.values():
            server.stop()


def served(sim: SimulatorProcess) -> dict[str, Any]:
    """Everything a client can collect from `sim`, minus what names the host (URLs) or is random
    by design (tokens, request ids)."""
    with closing(httpx.Client(base_url=sim.url, timeout=30, verify=TLS)) as api:
        token = api.post("/oauth/token", data=TOKEN_FORM).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        return {
            "siem batch": batch_files(api),
            "siem streaming": streaming_events(api),
            "dlp": api_records(
                api, "/api/dlp/get-logs", {"from": WIDE[0], "to": WIDE[1], "oldestFirst": True}
            ),
            "audit": api_records(
                api, "/api/audit/get-audit-events", {"startDateTime": WIDE[0], "endDateTime": WIDE[1]}
            ),
            "hold": api_records(api, "/api/gateway/get-hold-message-list", {"admin": True}),
        }


def batch_files(api: httpx.Client) -> list[tuple[str, int, str, bytes]]:
    """(object path, size, expiry, uncompressed content) of every listed file, in listing order."""
    files, page = [], api.get("/siem/v1/batch/events/cg", params={"pageSize": 20}).json()
    while True:
        for entry in dict.fromkeys(item["url"] for item in page["value"]):
            listed = next(item for item in page["value"] if item["url"] == entry)
            content = gzip.decompress(api.get(entry, headers={"Authorization": ""}).content)
            files.append((urlparse(entry).path, listed["size"], listed["expiry"], content))
        if page["isCaughtUp"]:
            return files
        page = api.get("/siem/v1/batch/events/cg", params={"nextPage": page["@nextPage"]}).json()


def streaming_events(api: httpx.Client) -> list[Any]:
    pages = [api.get("/siem/v1/events/cg", params={"pageSize": 50}).json()]
    while not pages[-1]["isCaughtUp"]:
        pages.append(api.get("/siem/v1/events/cg", params={"nextPage": pages[-1]["@nextPage"]}).json())
    return [page["value"] for page in pages]


def api_records(api: httpx.Client, path: str, window: dict[str, Any]) -> list[Any]:
    body: dict[str, Any] = {"meta": {"pagination": {"pageSize": 100}}, "data": [window]}
    pages = [api.post(path, json=body).json()]
    while "next" in pages[-1]["meta"]["pagination"]:
        token = pages[-1]["meta"]["pagination"]["next"]
        pages.append(api.post(path, json={"meta": {"pagination": {"pageToken": token}}}).json())
    return [page["data"] for page in pages]


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_one_seed_and_one_start_give_the_same_truth(
    simulators: dict[str, SimulatorProcess], collection: str
) -> None:
    twin = simulators["twin"].truth(collection)
    other_twin = simulators["other twin"].truth(collection)
    other_seed = simulators["other seed"].truth(collection)

    assert len(twin) > 50
    assert twin == other_twin
    assert not set(twin) & set(other_seed)


def test_one_seed_and_one_start_serve_the_same_records_byte_for_byte(
    simulators: dict[str, SimulatorProcess],
) -> None:
    twin, other_twin = served(simulators["twin"]), served(simulators["other twin"])

    for name, collected in twin.items():
        assert collected, name
        assert collected == other_twin[name], name


def test_another_seed_serves_other_records(simulators: dict[str, SimulatorProcess]) -> None:
    twin, other_seed = served(simulators["twin"]), served(simulators["other seed"])

    for name, collected in twin.items():
        assert collected != other_seed[name], name


def test_the_data_survives_a_reset_unchanged(simulators: dict[str, SimulatorProcess]) -> None:
    sim = simulators["twin"]
    before = {collection: sim.truth(collection) for collection in COLLECTIONS}
    sim.advance(3600)

    sim.reset()

    assert {collection: sim.truth(collection) for collection in COLLECTIONS} == before
