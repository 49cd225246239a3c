"""Health events: the contract's schema, one open event per problem, resolved by a Healthy event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ErrorType
from core.lifecycle.health import (
    GAP_EVENT,
    HEALTHY_EVENT,
    RECOVERY_SEVERITY,
    HealthEvent,
    ResourceIdentity,
    Severity,
    Status,
    event_name,
    gap,
    problem,
    recovery,
    widened,
)
from core.lifecycle.states import StateError

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
SOURCE = ResourceIdentity(collector_id="c1", collector_name="Mail", id="s1", name="Mimecast")
BAD_CREDENTIALS = StateError(ErrorType.THIRD_PARTY_CONFIG, "Client credentials are invalid", 401)
UPSTREAM_DOWN = StateError(ErrorType.THIRD_PARTY_GENERIC, "503 Service Unavailable", 503)


def test_a_config_error_opens_an_unhealthy_error_event_with_the_contract_shape() -> None:
    event = problem(BAD_CREDENTIALS, SOURCE, T0, "E1", open_events={}, final=False)

    assert event.to_json() == {
        "eventId": "E1",
        "eventName": "ThirdPartyConfigError",
        "eventType": "Health-Change",
        "status": "UnHealthy",
        "severityLevel": "Error",
        "eventTime": "2024-06-01T12:00:00Z",
        "eventFormatVersion": "1.0",
        "subsystem": "Collection",
        "details": {
            "trackerId": "ThirdPartyConfigError",
            "name": "Third party configuration error",
            "description": "401: Client credentials are invalid",
        },
        "resourceIdentity": {
            "collectorId": "c1",
            "collectorName": "Mail",
            "id": "s1",
            "name": "Mimecast",
            "type": "Source",
        },
    }


def test_event_names_follow_the_error_types() -> None:
    assert [event_name(kind) for kind in ErrorType] == [
        "ThirdPartyConfigError",
        "ThirdPartyGenericError",
        "FirstPartyGenericError",
    ]


def test_a_generic_error_is_a_warning_while_retried_and_an_error_once_the_window_ran_out() -> None:
    assert problem(UPSTREAM_DOWN, SOURCE, T0, "E1", open_events={}, final=False).severity is Severity.WARNING
    assert problem(UPSTREAM_DOWN, SOURCE, T0, "E1", open_events={}, final=True).severity is Severity.ERROR


def test_the_same_problem_again_refreshes_the_open_event_instead_of_opening_another() -> None:
    first = problem(UPSTREAM_DOWN, SOURCE, T0, "E1", open_events={}, final=False)
    again = problem(
        UPSTREAM_DOWN,
        SOURCE,
        T0 + timedelta(minutes=5),
        "E2",
        open_events={first.event_name: first},
        final=False,
    )
    assert again.event_id == "E1"
    assert again.time == T0 + timedelta(minutes=5)


def test_a_retry_elsewhere_never_lowers_an_open_error_event_but_a_stop_elsewhere_updates_it() -> None:
    audit = StateError(ErrorType.THIRD_PARTY_GENERIC, "Service Unavailable", 503, collection="auditEvent")
    dlp = StateError(ErrorType.THIRD_PARTY_GENERIC, "Bad Gateway", 502, collection="dlp")
    stopped = problem(audit, SOURCE, T0, "E1", open_events={}, final=True)
    later = T0 + timedelta(seconds=30)

    retried = problem(dlp, SOURCE, later, "E2", open_events={stopped.event_name: stopped}, final=False)
    assert retried == stopped  # still Error, still naming the collection that stopped

    also_stopped = problem(dlp, SOURCE, later, "E3", open_events={stopped.event_name: stopped}, final=True)
    assert (also_stopped.event_id, also_stopped.severity) == ("E1", Severity.ERROR)
    assert also_stopped.description == "dlp: 502: Bad Gateway"


def test_a_different_problem_opens_its_own_event() -> None:
    first = problem(UPSTREAM_DOWN, SOURCE, T0, "E1", open_events={}, final=False)
    other = problem(BAD_CREDENTIALS, SOURCE, T0, "E2", open_events={first.event_name: first}, final=False)
    assert other.event_id == "E2"


def test_recovery_with_nothing_open_emits_nothing() -> None:
    assert recovery({}, SOURCE, T0, "H1") is None


def test_recovery_resolves_every_open_event_with_one_healthy_event() -> None:
    warning = problem(UPSTREAM_DOWN, SOURCE, T0, "E1", open_events={}, final=False)
    error = problem(BAD_CREDENTIALS, SOURCE, T0 + timedelta(seconds=1), "E2", open_events={}, final=False)
    healthy = recovery({warning.event_name: warning, error.event_name: error}, SOURCE, T0, "H1")

    assert healthy is not None
    assert healthy.event_name == HEALTHY_EVENT
    assert healthy.status is Status.HEALTHY
    assert healthy.severity is Severity.WARNING  # its own, never the Error it resolves
    assert healthy.description == "resolved: ThirdPartyGenericError, ThirdPartyConfigError"


@pytest.mark.parametrize("final", [False, True])
def test_a_recovery_carries_its_own_severity_whatever_it_resolves(final: bool) -> None:
    for error in (UPSTREAM_DOWN, BAD_CREDENTIALS):
        opened = problem(error, SOURCE, T0, "E1", open_events={}, final=final)
        healthy = recovery({opened.event_name: opened}, SOURCE, T0, "H1")
        assert healthy is not None
        assert healthy.severity is RECOVERY_SEVERITY is Severity.WARNING
        assert healthy.to_json()["severityLevel"] == "Warning"


def test_a_problem_event_names_the_collection_that_failed() -> None:
    failed = StateError(ErrorType.THIRD_PARTY_GENERIC, "Service Unavailable", 503, collection="auditEvent")
    event = problem(failed, SOURCE, T0, "E1", open_events={}, final=False)
    assert event.description == "auditEvent: 503: Service Unavailable"
    at_start = problem(UPSTREAM_DOWN, SOURCE, T0, "E2", open_events={}, final=False)
    assert at_start.description == "503: 503 Service Unavailable"  # a start's failure: no collection


def test_events_round_trip_through_json() -> None:
    event = problem(BAD_CREDENTIALS, SOURCE, T0, "E1", open_events={}, final=False)
    assert HealthEvent.from_json(event.to_json()) == event


REACH = "older than the 59 days Mimecast serves for auditEvent"
BACKFILL_GAP = "auditEvent 2026-09-01T08:52:59.000Z .. 2026-10-02T08:52:59.000Z"


def open_gap() -> HealthEvent:
    """The gap a backfill of 30 days older than the audit reach opened."""
    return gap(BACKFILL_GAP, REACH, SOURCE, T0, "e1", open_events={})


def test_a_gap_that_goes_on_where_the_open_one_ends_widens_it_instead_of_hiding_it() -> None:
    """A backfill's sub-window, read a second after its stream moved into reach, meets that second's
    edge: the open gap is carried on to it, so the days before it stay named."""
    first = open_gap()
    assert first.description == f"not collected: {BACKFILL_GAP} ({REACH})"
    later = gap(
        "auditEvent 2026-10-02T08:52:59.000Z .. 2026-10-02T08:53:00.000Z",
        REACH,
        SOURCE,
        T0 + timedelta(seconds=1),
        "e2",
        open_events={GAP_EVENT: first},
    )
    assert later.event_id == "e1"
    widened_text = "auditEvent 2026-09-01T08:52:59.000Z .. 2026-10-02T08:53:00.000Z"
    assert later.description == f"not collected: {widened_text} ({REACH})"


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("auditEvent 2026-10-03T00:00:00.000Z .. 2026-10-03T00:00:01.000Z", REACH),  # not where it ends
        ("dlp 2026-10-02T08:52:59.000Z .. 2026-10-02T08:53:00.000Z", REACH),  # another stream
        ("auditEvent 2026-10-02T08:52:59.000Z .. 2026-10-02T08:53:00.000Z", "another reason"),
        ("siem file 1995561-0-0.json.gz", "the file stayed gone"),  # no range
    ],
)
def test_any_other_gap_replaces_the_open_ones_text(what: str, reason: str) -> None:
    opened = open_gap()
    assert widened(opened.description, what, reason) == what
    refreshed = gap(what, reason, SOURCE, T0, "e2", open_events={GAP_EVENT: opened})
    assert refreshed.description == f"not collected: {what} ({reason})"
