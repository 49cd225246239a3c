"""The fetch -> forward chain of one unit of work: one `fetch(unit)` task message, carrying ids,
never a secret.

The fetch hands its lease and page to the forward in the same worker process (`tasks.fetch`): the
page's records never travel through the broker, which measured (bench p1) as the largest cost of
the chain: the page encoded, wrapped, stored as unacked, decoded and passed to a pool process again.
`tasks.forward.forward` still takes a page message, for messages queued by an earlier version.

Each chain is queued with its unit's broker priority (`core.engine.units.priority`): a stream's own
chain, then the sub-windows, then the files (each as they came), all behind a source's start. A chain
that starts further chains (the same unit going on with its backlog, the children a listing or a
finished child admitted) runs the first of them (in that order) itself and queues the others at once
(idle processes take them), and so on for up to `CARRY_ON_SECONDS`: a task message, its trip through
the broker and a pool process cost about as much as a small page. It stops early when a chain that
goes before the next one waits in the broker (`broker_waiting`): a stream's chain (the hold list's
next page), a start or `dispatch` queued while a process carried on from file to file waited for the
carrying to end (measured when sub-windows still went before files: a drain ended on the sub-windows
left, few and slow, with processes idle). A unit carried on this way has no message of its own, like
a chain lost in a crash: it is in the due set `STREAM_HOLD_SECONDS` ahead (`Coordination.adopt`,
`finish`, `schedule` put it there before its chain starts), so it comes due again should this
process die. Other sources' messages wait at most that long for this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable

from celery import current_app, signature

from core.engine.units import broker_lists_before, first_served, priority

FETCH = "tasks.fetch.fetch"
FORWARD = "tasks.forward.forward"
CARRY_ON_SECONDS = 1.0


class _Carrying(threading.local):
    """While a fetch task carries on (`carried_on`), the units whose chains it starts, in order.
    Per thread: a worker of Celery's `threads` pool runs several tasks in one process at once; a
    module-wide list let one task's chains land in another's list, and, once that one ended, in a
    list nobody read (they waited in the due set for `dispatch`: a stalled drain, measured with
    `--pool threads`)."""

    kept: list[str] | None = None


_carrying = _Carrying()


def start_chain(unit: str) -> None:
    """Queue `fetch(unit)`, which forwards its page (if any) itself."""
    start_chains((unit,))


def start_chains(units: Iterable[str]) -> int:
    """Queue a chain for each unit over one broker connection (or, inside `carried_on`, keep them
    for this task to run); how many were started."""
    kept = _carrying.kept
    if kept is not None:
        before = len(kept)
        kept.extend(units)
        return len(kept) - before
    return _queue(units)


def carried_on(
    first: str,
    seconds: float = CARRY_ON_SECONDS,
    queue: Callable[[list[str]], object] | None = None,
    waiting: Callable[[int], bool] | None = None,
) -> Generator[str, None, None]:
    """`first`, then, while `seconds` last, the first unit whose chain the work on the previous one
    started, unless `waiting(priority)` says that a chain which goes before it waits; the others go
    to `queue` (by default: their chains are queued) at once, so that idle processes take them, and
    whatever is left when the iteration ends, however it ends (close the generator:
    `contextlib.closing`)."""
    send = queue or _queue
    kept: list[str] = []
    outer, _carrying.kept = _carrying.kept, kept
    try:
        deadline = time.monotonic() + seconds
        unit = first
        while True:
            yield unit
            if not kept or time.monotonic() >= deadline:
                return
            ordered = first_served(kept)
            if waiting is not None and waiting(priority(ordered[0])):
                return  # the kept units are queued behind what waits
            unit, *rest = ordered
            del kept[:]
            if rest:
                send(rest)
    finally:
        _carrying.kept = outer
        if kept:
            send(list(kept))


def broker_waiting(level: int) -> bool:
    """Whether a message the broker hands out before the chains of priority `level` waits (one
    round trip: the lengths of the lists read before theirs)."""
    lists = broker_lists_before(level)
    if not lists:
        return False
    with current_app.pool.acquire(block=True) as connection:
        pipe = connection.default_channel.client.pipeline(transaction=False)
        for name in lists:
            pipe.llen(name)
        return any(pipe.execute())


def _queue(units: Iterable[str]) -> int:
    count = 0
    with current_app.producer_or_acquire() as producer:
        for unit in units:
            signature(FETCH, args=[unit]).apply_async(producer=producer, priority=priority(unit))
            count += 1
    return count
