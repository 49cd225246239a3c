"""Every fault the simulator can script, met by our client over real HTTP with the right error class.

Each fault strikes part-way through a stream, after a page was committed. Then a new worker resumes
from the last committed cursor, as the retry policy would have it, and the records of the whole
read are exactly the ground truth: nothing lost, nothing repeated.
"""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import pytest

from core.errors import (
    RateLimited,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
    TokenRejected,
)
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING
from core.models import Page
from tests.support.fetching import Clocks, Workers, read_up_to, resume, start_cursor, truth, truth_ids
from tests.support.simulator import SimulatorProcess

# Smaller pages than the maxima, so that every stream has pages before and after the fault.
SPECS = {
    "batch": replace(SIEM_BATCH, page_size=5),
    "files": SIEM_BATCH,
    "streaming": replace(SIEM_STREAMING, page_size=100),
    "dlp": replace(DLP, page_size=100),
    "audit": replace(AUDIT, page_size=100),
    "hold": replace(HOLD, page_size=100),
}
API_ROUTES = ["batch", "streaming", "dlp", "audit", "hold"]


@dataclass(frozen=True)
class Case:
    route: str
    fault: dict[str, Any]
    raises: type[SourceError] | None
    says: str = ""
    timeout: float = 30.0


CASES: dict[str, Case] = {
    **{
        f"{route} 503": Case(route, {"status": 503}, ThirdPartyGenericError, "internal-error")
        for route in API_ROUTES
    },
    **{f"{route} 500": Case(route, {"status": 500}, ThirdPartyGenericError) for route in ["dlp", "batch"]},
    **{f"{route} 403": Case(route, {"status": 403}, ThirdPartyConfigError) for route in API_ROUTES},
    **{
        f"{route} 429": Case(route, {"kind": "rate_limit", "reset_ms": 1234}, RateLimited, "Over throttling")
        for route in API_ROUTES
    },
    **{
        f"{route} drop": Case(route, {"kind": "drop"}, ThirdPartyGenericError)
        for route in [*API_ROUTES, "files"]
    },
    **{
        f"{route} slow beyond the timeout": Case(
            route, {"kind": "slow", "delay_ms": 1500}, ThirdPartyGenericError, "timed out", timeout=0.4
        )
        for route in ["dlp", "streaming", "batch", "files"]
    },
    **{f"{route} slow": Case(route, {"kind": "slow", "delay_ms": 50}, None) for route in ["hold", "files"]},
    **{
        f"{route} 200 with fail": Case(
            route, {"kind": "fail_200"}, ThirdPartyGenericError, "Simulated failure"
        )
        for route in ["dlp", "audit", "hold"]
    },
    "audit 200 with fail app_forbidden": Case(
        "audit",
        {"kind": "fail_200", "body": {"fail": [{"code": "app_forbidden", "message": "Forbidden"}]}},
        ThirdPartyConfigError,
        "app_forbidden",
    ),
    **{
        f"{route} 401 token_expired": Case(
            route, {"status": 401, "body": {"fail": [{"code": "token_expired", "message": "expired"}]}}, None
        )
        for route in API_ROUTES
    },
    "dlp 401 unauthorized, twice": Case(
        "dlp",
        {"status": 401, "count": 2, "body": {"fail": [{"code": "unauthorized", "message": "Unauthorized"}]}},
        TokenRejected,
        "unauthorized",
    ),
    "files 403 once (URL expired)": Case("files", {"status": 403}, None),
    "files 503": Case("files", {"status": 503}, ThirdPartyGenericError),
    "files 429": Case("files", {"kind": "rate_limit", "reset_ms": 5000}, RateLimited),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_a_fault_part_way_raises_its_error_class_and_a_resumed_read_loses_and_repeats_nothing(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, case: Case
) -> None:
    simulator.configure(quota_batch=[10_000, 900])
    spec = SPECS[case.route]
    start = start_cursor(spec, clocks)
    connection = workers.connect(timeout=case.timeout)
    committed: list[Page] = []
    # Given a stream that has committed its first page
    with closing(connection.fetcher.pages(spec, start)) as pages:
        committed.append(next(pages))
        # When Mimecast answers the next call of the route with the fault
        simulator.fault(case.route, **case.fault)
        if case.raises is None:
            committed.extend(pages)
        else:
            with pytest.raises(case.raises) as raised:
                committed.extend(page for page in pages)
            # Then the error says what happened, safely
            error = raised.value
            assert type(error) is case.raises
            assert case.says in str(error)
            if isinstance(error, RateLimited) and "reset_ms" in case.fault:
                assert error.wait_seconds == max(case.fault["reset_ms"] / 1000, 1.0)
    assert simulator.state()["pendingFaults"] == {}
    # And a new worker resuming from the last committed cursor completes the read
    if case.raises is not None:
        clocks.advance(0)
        committed += resume(simulator, clocks.client, spec, committed[-1].end)
    assert committed[-1].finished
    ids = truth_ids(committed)
    assert Counter(ids) == truth(simulator, spec, until=read_up_to(spec, committed, start))
    assert len(ids) == len(set(ids))
