"""A fetch task carries on with the chains its work starts, for a while, and queues the rest."""

from __future__ import annotations

import threading
from contextlib import closing

import pytest

from core.engine.units import (
    BROKER_QUEUE,
    FILE_PRIORITY,
    PRIORITY_SEP,
    STREAM_PRIORITY,
    WINDOW_PRIORITY,
    broker_lists_before,
    priority,
)
from tasks.chains import carried_on, start_chain, start_chains


def test_the_first_chain_a_unit_starts_runs_after_it_and_the_others_are_queued_at_once() -> None:
    queued: list[str] = []
    ran: list[tuple[str, list[str]]] = []
    with closing(carried_on("stream", seconds=60, queue=queued.extend)) as units:
        for unit in units:
            ran.append((unit, list(queued)))
            if unit == "stream":
                assert start_chains(["child-1", "child-2"]) == 2
            if unit == "child-1":
                start_chain("child-3")
    # child-2 was queued before child-1 ran, for an idle process to take.
    assert ran == [("stream", []), ("child-1", ["child-2"]), ("child-3", ["child-2"])]
    assert queued == ["child-2"]


def test_the_chains_left_when_time_is_up_are_queued() -> None:
    queued: list[str] = []
    ran: list[str] = []
    with closing(carried_on("stream", seconds=0, queue=queued.extend)) as units:
        for unit in units:
            ran.append(unit)
            start_chains(["child-1", "child-2"])
    assert ran == ["stream"]
    assert queued == ["child-1", "child-2"]


def test_the_chains_started_before_a_failure_are_queued_at_once() -> None:
    queued: list[str] = []

    def work() -> None:
        with closing(carried_on("stream", seconds=60, queue=queued.extend)) as units:
            for _ in units:
                start_chains(["child-1"])
                raise RuntimeError("the fetch failed")

    with pytest.raises(RuntimeError):
        work()
    assert queued == ["child-1"]
    # Outside, chains are no longer kept by the finished carry-on: a new one starts empty.
    with closing(carried_on("other", seconds=60, queue=queued.extend)) as units:
        assert list(units) == ["other"]
    assert queued == ["child-1"]


def test_a_stream_chain_runs_before_children_started_with_it_and_they_are_queued() -> None:
    # A child that finished admitted the next child and its stream went on with its backlog
    # (`finish` puts them in that order): the stream's chain is carried on, the child queued.
    queued: list[str] = []
    ran: list[str] = []
    with closing(carried_on("s1:dlp@w.100", seconds=60, queue=queued.extend)) as units:
        for unit in units:
            ran.append(unit)
            if unit == "s1:dlp@w.100":
                start_chains(["s1:siem@f.abc", "s1:holdMessageList"])
    assert ran == ["s1:dlp@w.100", "s1:holdMessageList"]
    assert queued == ["s1:siem@f.abc"]


def test_a_chain_that_goes_first_waiting_in_the_broker_ends_the_carrying_on() -> None:
    # A stream's chain (the hold list's next page) waits in the broker while a process goes from
    # file to file
    queued: list[str] = []
    ran: list[str] = []
    asked: list[int] = []

    def waiting(level: int) -> bool:
        asked.append(level)
        return level > STREAM_PRIORITY

    with closing(carried_on("s1:siem@f.a", seconds=60, queue=queued.extend, waiting=waiting)) as units:
        for unit in units:
            ran.append(unit)
            start_chains(["s1:siem@f.b"])
    # Then the next file is queued behind it rather than run here
    assert (ran, queued, asked) == (["s1:siem@f.a"], ["s1:siem@f.b"], [FILE_PRIORITY])


def test_the_carrying_on_goes_on_when_only_later_chains_wait() -> None:
    queued: list[str] = []
    ran: list[str] = []
    with closing(
        carried_on("s1:dlp", seconds=60, queue=queued.extend, waiting=lambda level: level > STREAM_PRIORITY)
    ) as units:
        for unit in units:
            ran.append(unit)
            if len(ran) < 3:
                start_chain("s1:dlp")  # the stream goes on with its backlog
    assert ran == ["s1:dlp", "s1:dlp", "s1:dlp"]
    assert queued == []


def test_the_broker_lists_read_before_a_priority_are_those_of_the_steps_before_it() -> None:
    assert broker_lists_before(0) == []
    assert broker_lists_before(STREAM_PRIORITY) == ["celery"]
    assert broker_lists_before(FILE_PRIORITY) == ["celery", "celery\x06\x163", "celery\x06\x166"]


def test_a_sub_window_waiting_in_the_broker_ends_a_carrying_on_from_file_to_file() -> None:
    # The sub-window's chain was queued (its stream's task stopped carrying on for a stream's chain)
    # while this process went from file to file: it is taken next, not after every file
    window, file_a, file_b = "s1:dlp@w.1796021833", "s1:siem@f.a", "s1:siem@f.b"
    in_broker = {f"{BROKER_QUEUE}{PRIORITY_SEP}{priority(window)}"}
    queued: list[str] = []
    ran: list[str] = []

    def waiting(level: int) -> bool:
        return bool(in_broker.intersection(broker_lists_before(level)))

    with closing(carried_on(file_a, seconds=60, queue=queued.extend, waiting=waiting)) as units:
        for unit in units:
            ran.append(unit)
            start_chains([file_b])
    assert (ran, queued) == ([file_a], [file_b])
    assert priority(window) == WINDOW_PRIORITY < priority(file_b) == FILE_PRIORITY


def test_two_threads_carrying_on_at_once_each_run_the_chains_their_own_work_starts() -> None:
    # Celery's `threads` pool runs several fetch tasks in one process: while one carries on,
    # another opens its own carrying; each one's chains stay with it, and none is left behind.
    queued: list[str] = []
    first = carried_on("first", seconds=60, queue=queued.extend)
    assert next(first) == "first"
    opened, started, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[str] = []

    def other() -> None:
        with closing(carried_on("second", seconds=60, queue=queued.extend)) as units:
            for unit in units:
                seen.append(unit)
                if unit == "second":
                    opened.set()
                    started.wait(10)
                    start_chain("second-child")
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert opened.wait(10)
    start_chain("first-child")  # while the other thread's carrying is open
    started.set()
    thread.join(10)
    assert done.is_set()
    assert seen == ["second", "second-child"]
    assert next(first) == "first-child"
    first.close()
    assert queued == []
