"""The fetch -> forward chain of one stream; its messages carry the stream id, never a secret."""

from __future__ import annotations

from celery import chain, signature

FETCH = "tasks.fetch.fetch"
FORWARD = "tasks.forward.forward"


def start_chain(stream: str) -> None:
    """Queue `fetch(stream)`, whose page (if any) goes on to `forward`."""
    chain(signature(FETCH, args=[stream]), signature(FORWARD)).apply_async()
