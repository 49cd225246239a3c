"""Credentials, tokens and quotas, between our client and the simulator over real HTTP.

Bad, revoked or rotated credentials and missing permissions are configuration errors that carry
Mimecast's own words; a token that expires mid-window costs one refresh and one retry of the same
page; a spent quota is a RateLimited with the wait Mimecast announced; and a new worker resuming
after any of them loses and repeats nothing.
"""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest

from core.errors import (
    CredentialsRejected,
    RateLimited,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
)
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING, StreamSpec
from core.models import Credentials, Page
from tests.support.fetching import (
    Clocks,
    Workers,
    drain,
    read_up_to,
    resume,
    start_cursor,
    truth,
    truth_ids,
)
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

SMALL = {
    "batch": replace(SIEM_BATCH, page_size=5),
    "streaming": replace(SIEM_STREAMING, page_size=100),
    "dlp": replace(DLP, page_size=100),
    "audit": replace(AUDIT, page_size=100),
    "hold": replace(HOLD, page_size=100),
}


def token_calls(sim: SimulatorProcess) -> int:
    calls: int = sim.state()["calls"].get("token", 0)
    return calls


def exact(sim: SimulatorProcess, spec: StreamSpec, pages: list[Page]) -> None:
    """The pages hold exactly the ground truth up to where they read, each record once."""
    ids = truth_ids(pages)
    assert Counter(ids) == truth(sim, spec, until=read_up_to(spec, pages, pages[0].start))
    assert len(ids) == len(set(ids))


def first_error(workers: Workers, spec: StreamSpec, clocks: Clocks, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as raised:
        drain(workers.fetcher(**options), spec, start_cursor(spec, clocks))
    return raised.value


# Credentials and permissions


@pytest.mark.parametrize(
    "credentials",
    [Credentials(CLIENT_ID, "not-the-secret"), Credentials("nobody", CLIENT_SECRET)],
    ids=["a wrong secret", "an unknown client id"],
)
def test_bad_credentials_are_a_config_error_with_mimecasts_message_asked_once(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, credentials: Credentials
) -> None:
    error = first_error(workers, DLP, clocks, credentials=credentials)
    assert type(error) is CredentialsRejected  # a configuration error that halts every collection
    assert isinstance(error, ThirdPartyConfigError)
    assert error.source_wide
    assert error.status == 401
    assert "Client credentials are invalid" in str(error)
    assert credentials.client_secret not in str(error)
    assert token_calls(simulator) == 1


def test_a_bare_400_from_the_token_endpoint_is_a_config_error_that_says_so(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    simulator.configure(token_error_status=400)
    error = first_error(workers, AUDIT, clocks, credentials=Credentials(CLIENT_ID, "wrong"))
    assert type(error) is CredentialsRejected
    assert error.status == 400
    assert "refused the client id and secret" in str(error)


@pytest.mark.parametrize("spec", [SIEM_BATCH, SIEM_STREAMING, AUDIT, HOLD], ids=lambda spec: spec.name)
def test_a_collection_the_application_may_not_read_is_a_config_error(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, spec: StreamSpec
) -> None:
    # Given an application allowed DLP only
    simulator.control.post(
        "/_sim/clients", json={"client_id": "dlp-only", "client_secret": "s3cret", "collections": ["dlp"]}
    ).raise_for_status()
    credentials = Credentials("dlp-only", "s3cret")
    # Then DLP reads, and the other collections are refused as configuration errors
    assert drain(workers.fetcher(credentials=credentials), DLP, start_cursor(DLP, clocks))
    error = first_error(workers, spec, clocks, credentials=credentials)
    assert type(error) is ThirdPartyConfigError
    assert not error.source_wide  # it halts that collection only
    assert error.status == 403
    assert "Forbidden to perform the requested operation" in str(error)


@pytest.mark.parametrize("change", ["revoke", "rotate"])
def test_credentials_revoked_or_rotated_mid_window_stop_the_stream_as_a_config_error(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, change: str
) -> None:
    spec = SMALL["audit"]
    with closing(workers.fetcher().pages(spec, start_cursor(spec, clocks))) as pages:
        committed = [next(pages)]
        answer = simulator.control.post(f"/_sim/clients/{CLIENT_ID}/{change}", json={})
        answer.raise_for_status()
        if change == "rotate":  # tokens issued before a rotation live on until they expire
            simulator.control.post("/_sim/tokens/expire").raise_for_status()
        with pytest.raises(ThirdPartyConfigError, match="Client credentials are invalid"):
            next(pages)
    if change == "rotate":
        # And once the source is given the new secret, it goes on where it stopped
        credentials = Credentials(CLIENT_ID, answer.json()["client_secret"])
        committed += resume(simulator, clocks.client, spec, committed[-1].end, credentials=credentials)
        exact(simulator, spec, committed)


# Tokens


@pytest.mark.parametrize("route", list(SMALL))
def test_a_token_expiring_mid_window_costs_one_refresh_and_one_retry_of_the_same_page(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, route: str
) -> None:
    spec = SMALL[route]
    fetcher = workers.fetcher()
    with closing(fetcher.pages(spec, start_cursor(spec, clocks))) as pages:
        committed = [next(pages)]
        simulator.control.post("/_sim/tokens/expire").raise_for_status()
        committed.extend(pages)
    assert token_calls(simulator) == 2
    if route != "batch":  # one request per page, plus the one refused
        assert simulator.state()["calls"][route] == len(committed) + 1
    exact(simulator, spec, committed)


@pytest.mark.parametrize(
    ("fault", "raises"),
    [
        ({"status": 503}, ThirdPartyGenericError),
        ({"kind": "rate_limit", "reset_ms": 20_000}, RateLimited),
        ({"kind": "drop"}, ThirdPartyGenericError),
        ({"status": 401}, CredentialsRejected),
    ],
    ids=["503", "429", "drop", "401"],
)
def test_a_failed_token_refresh_mid_window_raises_its_class_and_a_resumed_read_is_exact(
    simulator: SimulatorProcess,
    clocks: Clocks,
    workers: Workers,
    fault: dict[str, Any],
    raises: type[SourceError],
) -> None:
    spec = SMALL["dlp"]
    with closing(workers.fetcher().pages(spec, start_cursor(spec, clocks))) as pages:
        committed = [next(pages)]
        simulator.control.post("/_sim/tokens/expire").raise_for_status()
        simulator.fault("token", **fault)
        with pytest.raises(raises) as raised:
            next(pages)
    assert type(raised.value) is raises
    if isinstance(raised.value, RateLimited):
        assert raised.value.wait_seconds == 20.0
        clocks.advance(20)
    committed += resume(simulator, clocks.client, spec, committed[-1].end)
    exact(simulator, spec, committed)


def test_polling_every_collection_for_two_hours_asks_for_a_token_once_per_25_minutes(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    fetcher = workers.fetcher()
    cursors = {spec.name: start_cursor(spec, clocks) for spec in SMALL.values()}
    for _ in range(24):
        for spec in SMALL.values():
            pages = drain(fetcher, spec, cursors[spec.name])
            cursors[spec.name] = pages[-1].end if pages else cursors[spec.name]
        clocks.advance(300)
    # Tokens live 1799 s and are refreshed 300 s before they expire: never refused, never more
    assert token_calls(simulator) == 5
    assert sum(simulator.state()["calls"].values()) > 200


# Quotas


@pytest.mark.parametrize(
    ("route", "quota"), [("dlp", "quota_api"), ("batch", "quota_batch"), ("streaming", "quota_streaming")]
)
def test_a_spent_quota_is_rate_limited_with_mimecasts_wait_and_the_stream_resumes_after_it(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, route: str, quota: str
) -> None:
    # Given a quota of three calls per ten minutes
    simulator.configure(**{quota: [3, 600]})
    spec = replace(SMALL[route], page_size=2) if route == "batch" else SMALL[route]
    committed: list[Page] = []
    pages = workers.fetcher().pages(spec, start_cursor(spec, clocks))
    with closing(pages), pytest.raises(RateLimited) as raised:
        committed.extend(page for page in pages)
    # Then the wait is what Mimecast announced: until the quota window ends
    now_ms = int(clocks.now.timestamp() * 1000)
    assert raised.value.wait_seconds == pytest.approx((600_000 - now_ms % 600_000) / 1000)
    assert "Over throttling limit" in str(raised.value)
    # And after waiting it out, the stream goes on where it stopped
    clocks.advance(raised.value.wait_seconds)
    simulator.configure(**{quota: [10_000, 600]})
    committed += resume(simulator, clocks.client, spec, committed[-1].end)
    exact(simulator, spec, committed)
