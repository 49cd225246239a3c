"""`forward(page)`: rules and metadata, write to the destination, then commit the checkpoint.

When more pages wait, the next chain is queued at once; otherwise the stream goes back into the
due set for the next poll.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.chains import FORWARD, start_chain
from tasks.collection import StreamWork
from worker.wiring import services


@shared_task(name=FORWARD, ignore_result=True)  # type: ignore[untyped-decorator]
def forward(payload: dict[str, Any] | None) -> None:
    if not payload:
        return
    stream = str(payload["stream"])
    if StreamWork(services(), stream).forward(payload):
        start_chain(stream)
