"""The SIEM mode executor (`tasks/siem_mode.py`) on a real Redis, with the API reading what it left:
a fallback to batch files commits the batch checkpoint, opens a Warning health event and shows in
the progress view; a handover waiting for batch children neither reads nor commits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from core.engine.siem_mode import FALLBACK_EVENT
from core.engine.units import Unit
from core.mimecast.streams import SIEM_BATCH, SIEM_STREAMING
from core.models import BatchCursor, Handover, WindowCursor, cursor_of_text, cursor_text
from tasks import siem_mode
from tasks.effects import Work
from tests.support.stack import Stack, running_stack
from worker.wiring import Services


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("siem-mode")) as running:
        yield running


@pytest.fixture
def svc(stack: Stack) -> Iterator[Services]:
    with stack.services() as services:
        yield services


def new_source(stack: Stack, name: str, mode: str) -> tuple[str, str]:
    client = stack.client()
    made = client.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": f"c-{name}"}})
    made.raise_for_status()
    collector = made.json()["collector"]["id"]
    config = {
        "name": name,
        "clientID": f"id-{name}",
        "clientSecret": "s",
        "dataCollection": ["siem"],
        "siemMode": mode,
    }
    body = {
        "api.version": "v1",
        "source": {"config": config, "schemaRef": {"type": "Mimecast"}, "sourceType": "Universal"},
    }
    created = client.post(f"/collectors/{collector}/sources", json=body)
    assert created.status_code == 201, created.text
    return collector, created.json()["source"]["id"]


def test_a_fallback_commits_batch_files_from_the_streaming_edge_warns_and_shows_in_progress(
    stack: Stack, svc: Services
) -> None:
    collector, source_id = new_source(stack, "fallback", "auto")
    unit = Unit(source_id, "siem")
    now = svc.clock.now()
    edge = (now - timedelta(minutes=5)).replace(microsecond=0)
    lease = svc.coordination.acquire(unit.id, 30)
    assert lease is not None
    version = svc.coordination.commit(
        lease, 0, cursor_text(WindowCursor(start=edge - timedelta(seconds=1), edge=edge)), now.timestamp()
    )
    # Given a 429 on the streaming endpoint for this client id, its reset 40 minutes away
    svc.throttle.pause("id-fallback", SIEM_STREAMING.path, now.timestamp() + 2400, now.timestamp())
    source = svc.sources.get(source_id)

    planned = siem_mode.plan(
        Work(svc, unit),
        source,
        lease,
        cursor_of_text(svc.coordination.checkpoint(unit.id).cursor or ""),
        version,
        None,
    )

    # Then it reads batch files from the edge, committed before any call
    assert planned is not None
    assert planned.spec is SIEM_BATCH
    stored = cursor_of_text(svc.coordination.checkpoint(unit.id).cursor or "")
    assert isinstance(stored, BatchCursor)
    assert (stored.start_date, stored.since) == (edge.date(), edge)
    assert stored.streaming_after is not None
    assert planned.version == svc.coordination.checkpoint(unit.id).version
    # And says so: a Warning health event, and the progress view
    event = svc.health.open_events_of(source_id)[FALLBACK_EVENT]
    assert event.severity.value == "Warning"
    assert "cannot keep up within its quota" in event.description
    progress = stack.client().get(f"/collectors/{collector}/sources/{source_id}/progress").json()["progress"]
    (siem,) = progress
    assert siem["siem"]["reading"] == "batch"
    assert "could not keep up within its quota" in siem["siem"]["note"]
    svc.coordination.release(lease)


def test_a_settled_handover_waits_for_its_batch_children_without_reading_or_committing(
    stack: Stack, svc: Services
) -> None:
    _, source_id = new_source(stack, "waiting", "auto")
    unit = Unit(source_id, "siem")
    now = svc.clock.now()
    at = (now - timedelta(hours=2)).replace(microsecond=0)
    settled = BatchCursor(
        token="t1", caught_up=True, until=at, handover=Handover(at, "t0", None, settled=True)
    )
    lease = svc.coordination.acquire(unit.id, 30)
    assert lease is not None
    version = svc.coordination.commit(lease, 0, cursor_text(settled), now.timestamp())
    child = f"{unit.id}@f.0123456789abcdef"
    version, _ = svc.coordination.adopt(
        lease,
        version,
        cursor_text(settled),
        [(child, cursor_text(replace(settled, files=("f",))))],
        now.timestamp(),
        8,
    )
    source = svc.sources.get(source_id)

    assert siem_mode.plan(Work(svc, unit), source, lease, settled, version, None) is None
    assert svc.coordination.checkpoint(unit.id).version == version  # nothing committed
    due = svc.coordination.due_at(unit.id)
    assert due is not None
    assert due >= now.timestamp() + svc.settings.poll_interval_seconds - 1

    # Once the child is gone, the stream streams from the handover point.
    svc.coordination.drop_child(child)
    planned = siem_mode.plan(Work(svc, unit), source, lease, settled, version, None)
    assert planned is not None
    assert planned.spec is SIEM_STREAMING
    assert planned.cursor == WindowCursor(start=at, since=at)
    assert cursor_of_text(svc.coordination.checkpoint(unit.id).cursor or "") == planned.cursor
    svc.coordination.release(lease)
