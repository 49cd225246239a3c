"""The failure executor (`tasks/failures.py`) on a real Redis, with a manual clock: one collection's
failure stays its own (its retries, its window, its halt), the source's one state names the failing
collection, a collection that collects again hands the state to one still failing, and a restart's
hand-off lifts every halt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import ManualClock
from core.engine.decisions import Gate, gate
from core.engine.units import Unit
from core.errors import CredentialsRejected, ThirdPartyConfigError, ThirdPartyGenericError
from core.lifecycle.failures import EVERY_COLLECTION
from core.lifecycle.states import State
from tasks import failures
from tasks.lifecycle import hand_off_to_collection
from tests.support.stack import Stack, running_stack
from worker.wiring import Services

COLLECTIONS = ["siem", "dlp", "auditEvent"]
WINDOW = 60.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("failures")) as running:
        yield running


@pytest.fixture
def svc(stack: Stack) -> Iterator[Services]:
    with stack.services(retry_window_seconds=WINDOW) as services:
        yield replace(services, clock=ManualClock(datetime(2026, 11, 29, 12, tzinfo=UTC)))


def collecting_source(stack: Stack, svc: Services, name: str = "failures") -> str:
    client = stack.client()
    made = client.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": name}})
    made.raise_for_status()
    config = {"name": "partial", "clientID": "id", "clientSecret": "s", "dataCollection": COLLECTIONS}
    body = {
        "api.version": "v1",
        "source": {"config": config, "schemaRef": {"type": "Mimecast"}, "sourceType": "Universal"},
    }
    created = client.post(f"/collectors/{made.json()['collector']['id']}/sources", json=body)
    assert created.status_code == 201, created.text
    source_id: str = created.json()["source"]["id"]
    for state in (State.STARTED, State.INITIALIZED, State.AUTHENTICATED, State.COLLECTING):
        svc.sources.transition(source_id, state, svc.clock.now(), "walked by the test")
    return source_id


def status(svc: Services, source_id: str) -> Any:
    return svc.sources.get(source_id).status


def open_event(svc: Services, source_id: str, name: str) -> Any:
    return svc.health.open_events_of(source_id)[name]


def latest_reason(svc: Services, source_id: str) -> str:
    reason: str = svc.sources.history(source_id)[0]["reason"]
    return reason


def unavailable(status: int = 503) -> ThirdPartyGenericError:
    return ThirdPartyGenericError("Service Unavailable", status=status)


def test_one_collections_failure_stays_its_own_and_the_state_names_the_failing_collection(
    stack: Stack, svc: Services
) -> None:
    source_id = collecting_source(stack, svc)
    source = svc.sources.get(source_id)
    siem, dlp, audit = (Unit(source_id, name) for name in COLLECTIONS)
    clock = svc.clock
    assert isinstance(clock, ManualClock)

    # Audit meets a 503: it retries; the source is in Error, naming audit, with a Warning event
    failures.failed(svc, source, audit, unavailable())
    assert (status(svc, source_id).state, status(svc, source_id).error.collection) == (
        State.ERROR,
        "auditEvent",
    )
    assert svc.coordination.due_at(audit.id) is not None
    assert svc.coordination.halts(source_id) == {}
    event = open_event(svc, source_id, "ThirdPartyGenericError")
    assert (event.severity.value, event.description) == ("Warning", "auditEvent: 503: Service Unavailable")

    # DLP fails too: the state names the latest, and the reason the other
    clock.advance(1)
    failures.failed(svc, source, dlp, unavailable(502))
    assert status(svc, source_id).error.collection == "dlp"
    assert latest_reason(svc, source_id) == "ThirdPartyGeneric in dlp: will retry; also failing: auditEvent"
    entries = len(svc.sources.history(source_id))
    failures.failed(svc, source, dlp, unavailable(502))  # a retry of what is shown: no new entry
    assert len(svc.sources.history(source_id)) == entries

    # DLP collects again: the source stays in Error, now naming audit
    failures.delivered(svc, source, dlp)
    assert (status(svc, source_id).state, status(svc, source_id).error.collection) == (
        State.ERROR,
        "auditEvent",
    )
    assert latest_reason(svc, source_id) == "dlp collects again; still failing: auditEvent"

    # Audit collects again too: the source recovers, and the recovery has its own severity
    failures.delivered(svc, source, audit)
    assert status(svc, source_id).state is State.COLLECTING
    assert svc.health.open_events_of(source_id) == {}
    healthy = svc.health.log_of([source_id], 10)[0]
    assert (healthy["eventName"], healthy["status"], healthy["severityLevel"]) == (
        "SourceHealthy",
        "Healthy",
        "Warning",
    )

    # Audit fails until its window runs out: it alone halts, with an Error event naming it
    failures.failed(svc, source, audit, unavailable())
    clock.advance(WINDOW + 1)
    failures.failed(svc, source, audit, unavailable())
    generation = source.status.generation
    assert svc.coordination.halts(source_id) == {"auditEvent": generation}
    assert svc.coordination.due_at(audit.id) is None
    assert status(svc, source_id).error.collection == "auditEvent"  # stopped before retried
    event = open_event(svc, source_id, "ThirdPartyGenericError")
    assert (event.severity.value, event.description) == ("Error", "auditEvent: 503: Service Unavailable")
    # DLP's failures within its own window (it began now) neither halt it nor lower audit's event
    failures.failed(svc, source, dlp, unavailable(502))
    assert svc.coordination.due_at(dlp.id) is not None
    assert open_event(svc, source_id, "ThirdPartyGenericError").severity.value == "Error"
    current = svc.sources.get(source_id)
    halts = svc.coordination.halts(source_id)
    assert gate(current.status, COLLECTIONS, "auditEvent", halts) is Gate.HALTED
    assert gate(current.status, COLLECTIONS, "dlp", halts) is Gate.GO

    # A 403 on SIEM halts it at once; refused credentials halt every collection
    failures.failed(svc, source, siem, ThirdPartyConfigError("Forbidden", status=403))
    assert svc.coordination.halts(source_id) == {"auditEvent": generation, "siem": generation}
    failures.failed(svc, source, dlp, CredentialsRejected("Client credentials are invalid", status=401))
    assert svc.coordination.halts(source_id)[EVERY_COLLECTION] == generation
    assert "the credentials were refused: every collection halted" in latest_reason(svc, source_id)

    # A restart's hand-off lifts every halt, forgets every streak and starts every stream's chain at
    # once, SIEM's first (it fans out); each is held in the due set as dispatch would hold it, so a
    # chain lost before it ran comes due again, SIEM's first, and no tick starts a second meanwhile
    started = hand_off_to_collection(svc, source)
    assert started == [siem.id, dlp.id, audit.id]
    assert svc.coordination.halts(source_id) == {}
    assert svc.streaks.failing(source_id) == []
    due = [svc.coordination.due_at(unit.id) for unit in (siem, dlp, audit)]
    held = svc.clock.now().timestamp() + svc.settings.stream_hold_seconds
    assert all(at is not None and held - 5 <= at <= held + 1 for at in due)
    assert due == sorted(due)
    assert len(set(due)) == 3
    assert svc.coordination.claim_due(svc.clock.now().timestamp(), svc.settings.stream_hold_seconds) == []


def test_a_failure_whose_event_opened_after_another_collections_recovery_is_resolved_by_its_own(
    stack: Stack, svc: Services
) -> None:
    """The race CI met: the destination comes back, SIEM's retry delivers and moves the source to
    Collecting (resolving what was open) while DLP's failure of a moment before is still opening its
    event. DLP's own next delivery must resolve that event, although the state already says
    Collecting."""
    source_id = collecting_source(stack, svc, "raced recovery")
    source = svc.sources.get(source_id)
    siem, dlp = Unit(source_id, "siem"), Unit(source_id, "dlp")
    failures.failed(svc, source, siem, unavailable())
    failures.delivered(svc, source, siem)
    assert status(svc, source_id).state is State.COLLECTING
    # DLP failed a moment before SIEM's recovery; its event opens just after it (no new state)
    failures.failed(svc, source, dlp, unavailable())
    svc.sources.transition(source_id, State.COLLECTING, svc.clock.now(), "SIEM's recovery, raced")
    assert "ThirdPartyGenericError" in svc.health.open_events_of(source_id)

    failures.delivered(svc, source, dlp)
    assert status(svc, source_id).state is State.COLLECTING
    assert svc.health.open_events_of(source_id) == {}
    assert svc.health.log_of([source_id], 1)[0]["eventName"] == "SourceHealthy"
