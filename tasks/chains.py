"""The fetch -> forward chain of one unit of work; its messages carry ids, never a secret."""

from __future__ import annotations

from collections.abc import Iterable

from celery import chain, current_app, signature

FETCH = "tasks.fetch.fetch"
FORWARD = "tasks.forward.forward"


def start_chain(unit: str) -> None:
    """Queue `fetch(unit)`, whose page (if any) goes on to `forward`."""
    start_chains((unit,))


def start_chains(units: Iterable[str]) -> int:
    """Queue a chain for each unit over one broker connection; how many were queued."""
    count = 0
    with current_app.producer_or_acquire() as producer:
        for unit in units:
            chain(signature(FETCH, args=[unit]), signature(FORWARD)).apply_async(producer=producer)
            count += 1
    return count
