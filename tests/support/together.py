"""Start or stop several of a test's processes at once.

Each start is a second or more of a Python process importing and connecting, and each stop of a
Celery worker a second or more of warm shutdown: mostly waiting, so a deployment's pieces overlap
instead of queueing one behind another.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def together(*calls: Callable[[], object]) -> None:
    """Run every call, each in its own thread, and wait for all of them; then raise the first
    failure, if any (the others ran to their end regardless, so whatever started can be stopped)."""
    if not calls:
        return
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()
