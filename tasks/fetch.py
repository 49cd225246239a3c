"""`fetch(stream)`: take the stream's lease, read one page from its checkpoint, hand it to `forward`.

Returns the forward payload (the chain passes it on), or stops the chain with `Ignore` when there
is nothing to forward: the lease is taken, the stream is not due, halted, or failed (in which case
it is already scheduled for its retry).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import Ignore

from tasks.chains import FETCH
from tasks.collection import StreamWork
from worker.wiring import services


@shared_task(name=FETCH, ignore_result=True)  # type: ignore[untyped-decorator]
def fetch(stream: str) -> dict[str, Any]:
    payload = StreamWork(services(), stream).fetch()
    if payload is None:
        raise Ignore()
    return payload
