"""The coordination store's guards: the due set, leases handed from fetch to forward, fencing
epochs, compare-and-set checkpoints, and children with a per-source bound. One contract, run
against the Redis store and against its in-memory twin (so the engine's unit tests can trust it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from core.engine.pins import Pin
from core.lifecycle.failures import EVERY_COLLECTION
from core.store.coordination import Children, Coordination, Lease, StaleCommit
from core.store.memory import MemoryCoordination
from tests.support.redis_server import RedisServer

Store = Coordination | MemoryCoordination


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryCoordination()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url)
    yield Coordination(client)
    client.close()


def test_claiming_takes_only_due_streams_and_pushes_them_ahead(store: Store) -> None:
    store.schedule("s1:dlp", at=100)
    store.schedule("s1:siem", at=200)

    assert store.claim_due(now=150, hold_seconds=60) == ["s1:dlp"]
    assert store.due_at("s1:dlp") == 210
    assert store.claim_due(now=150, hold_seconds=60) == []
    assert store.overdue(now=250) == 2


def test_concurrent_claims_hand_each_due_stream_to_one_claimer(store: Store) -> None:
    for number in range(200):
        store.schedule(f"s:{number}", at=0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: store.claim_due(now=1, hold_seconds=60, batch=30), range(16)))

    claimed = [stream for batch in batches for stream in batch]
    assert sorted(claimed) == sorted(f"s:{number}" for number in range(200))


def test_a_held_lease_is_refused_and_each_grant_has_a_new_epoch(store: Store) -> None:
    first = store.acquire("s1:dlp", ttl_seconds=30)
    assert first is not None
    assert store.acquire("s1:dlp", ttl_seconds=30) is None

    store.release(first)
    second = store.acquire("s1:dlp", ttl_seconds=30)
    assert second is not None
    assert second.epoch == first.epoch + 1


def test_releasing_a_lease_one_no_longer_holds_leaves_the_new_holder_alone(store: Store) -> None:
    old = store.acquire("s1:dlp", ttl_seconds=0.05)
    assert old is not None
    time.sleep(0.1)  # the old holder's lease runs out
    new = store.acquire("s1:dlp", ttl_seconds=30)
    assert new is not None

    store.release(old)
    assert store.held("s1:dlp")
    assert not store.renew(old, ttl_seconds=30)
    assert store.renew(new, ttl_seconds=30)


def test_a_commit_moves_the_checkpoint_once_from_the_version_it_read(store: Store) -> None:
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None
    assert store.checkpoint("s1:dlp").version == 0

    assert store.commit(lease, expected_version=0, cursor='{"page": 1}', now=10.0) == 1
    with pytest.raises(StaleCommit, match="changed"):
        store.commit(lease, expected_version=0, cursor='{"page": 1}', now=11.0)

    checkpoint = store.checkpoint("s1:dlp")
    assert (checkpoint.cursor, checkpoint.version, checkpoint.committed_at) == ('{"page": 1}', 1, 10.0)


def test_a_worker_whose_lease_passed_on_cannot_commit(store: Store) -> None:
    stale = store.acquire("s1:dlp", ttl_seconds=30)
    assert stale is not None
    store.release(stale)
    current = store.acquire("s1:dlp", ttl_seconds=30)
    assert current is not None

    with pytest.raises(StaleCommit, match="another worker"):
        store.commit(stale, expected_version=0, cursor='{"page": 9}', now=1.0)
    assert store.commit(current, expected_version=0, cursor='{"page": 1}', now=1.0) == 1


def test_a_reset_fences_the_work_in_flight_and_sets_the_cursor(store: Store) -> None:
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None

    store.reset("s1:dlp", '{"since": "2026-11-01"}')

    with pytest.raises(StaleCommit):
        store.commit(lease, expected_version=0, cursor='{"page": 1}', now=1.0)
    assert store.checkpoint("s1:dlp").cursor == '{"since": "2026-11-01"}'


def test_checkpoints_survive_a_redis_crash(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    store = Coordination(client)
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None
    store.commit(lease, expected_version=0, cursor='{"page": 3}', now=1.0)

    redis_server.restart()

    client = redis.Redis.from_url(redis_server.url)
    assert Coordination(client).checkpoint("s1:dlp").cursor == '{"page": 3}'
    client.close()


def test_one_claim_takes_every_due_unit_whatever_the_batch_size(store: Store) -> None:
    for number in range(2500):
        store.schedule(f"s{number}:dlp", at=number % 7)
    store.schedule("late:dlp", at=100)

    claimed = store.claim_due(now=10, hold_seconds=60, batch=1000)

    assert len(claimed) == 2500
    assert "late:dlp" not in claimed
    assert store.overdue(now=10) == 0


def test_fetch_hands_its_lease_to_forward_and_can_no_longer_release_it(store: Store) -> None:
    fetched = store.acquire("s1:dlp", ttl_seconds=30)
    assert fetched is not None

    forwarding = store.handoff(fetched, ttl_seconds=30)

    assert forwarding is not None
    assert forwarding.epoch == fetched.epoch
    store.release(fetched)  # the fetch's late release is a no-op
    assert store.held("s1:dlp")
    assert store.acquire("s1:dlp", ttl_seconds=30) is None
    assert store.commit(forwarding, expected_version=0, cursor="c1", now=1.0) == 1
    store.release(forwarding)
    assert not store.held("s1:dlp")
    assert store.handoff(fetched, ttl_seconds=30) is None  # a lapsed lease cannot be handed on


PIN = Pin('{"start": "w1"}', ("0123456789abcdef", "fedcba9876543210"))


def pinned_handoff(store: Store, unit: str) -> tuple[int, Lease]:
    """A window committed open, then its page handed to a forward with its pin; (version, lease)."""
    fetched = store.acquire(unit, ttl_seconds=30)
    assert fetched is not None
    version = store.commit(fetched, expected_version=0, cursor=PIN.start, now=1.0)
    forwarding = store.handoff(fetched, ttl_seconds=30, pin=PIN)
    assert forwarding is not None
    return version, forwarding


def test_the_hand_off_pins_the_page_and_the_commit_after_it_clears_the_pin(store: Store) -> None:
    version, forwarding = pinned_handoff(store, "s1:dlp")

    pinned = store.checkpoint("s1:dlp")
    assert pinned.pin == PIN
    assert (pinned.cursor, pinned.version) == (PIN.start, version)  # the pin moves no version

    store.commit(forwarding, expected_version=version, cursor='{"start": "w2"}', now=2.0)
    assert store.checkpoint("s1:dlp").pin is None


def test_a_hand_off_without_a_pin_or_whose_lease_lapsed_pins_nothing(store: Store) -> None:
    fetched = store.acquire("s1:siem@f.1", ttl_seconds=30)
    assert fetched is not None
    store.commit(fetched, expected_version=0, cursor="file", now=1.0)
    forwarding = store.handoff(fetched, ttl_seconds=30)  # a SIEM batch file: no pin
    assert forwarding is not None
    assert store.checkpoint("s1:siem@f.1").pin is None

    assert store.handoff(fetched, ttl_seconds=30, pin=PIN) is None  # no longer the holder
    assert store.checkpoint("s1:siem@f.1").pin is None

    unborn = store.acquire("s1:audit", ttl_seconds=30)
    assert unborn is not None
    store.handoff(unborn, ttl_seconds=30, pin=PIN)  # no checkpoint yet: none is made for the pin
    assert not store.exists("s1:audit")


def test_a_reset_and_an_adoption_clear_the_pin(store: Store) -> None:
    pinned_handoff(store, "s1:dlp")
    store.reset("s1:dlp", '{"since": "2026-11-01"}')
    assert store.checkpoint("s1:dlp").pin is None

    pinned_handoff(store, "s1:auditEvent")
    store.reset("s1:auditEvent", None)
    assert store.checkpoint("s1:auditEvent").pin is None

    version, forwarding = pinned_handoff(store, "s2:dlp")
    store.adopt(forwarding, version, '{"start": "w9"}', [("s2:dlp@w.1", "sub")], now=3.0, bound=4)
    assert store.checkpoint("s2:dlp").pin is None


def children_of(count: int) -> list[tuple[str, str]]:
    return [(f"s1:siem@f.{number:016x}", f"file-{number}") for number in range(count)]


def test_adopting_children_moves_the_stream_on_and_admits_no_more_than_the_bound(store: Store) -> None:
    lease = store.acquire("s1:siem", ttl_seconds=30)
    assert lease is not None

    version, admitted = store.adopt(lease, 0, "after-listing", children_of(12), now=5.0, bound=8)

    assert version == 1
    assert store.checkpoint("s1:siem").cursor == "after-listing"
    assert admitted == [unit for unit, _ in children_of(8)]
    assert all(store.due_at(unit) == 5.0 for unit in admitted)
    assert store.children("s1") == Children(pending=4, running=8)
    assert store.checkpoint("s1:siem@f.000000000000000b").cursor == "file-11"


def test_a_stale_adoption_records_no_child(store: Store) -> None:
    first = store.acquire("s1:siem", ttl_seconds=30)
    assert first is not None
    store.release(first)
    assert store.acquire("s1:siem", ttl_seconds=30) is not None  # the epoch moved on

    with pytest.raises(StaleCommit):
        store.adopt(first, 0, "after-listing", children_of(3), now=5.0, bound=8)

    assert store.children("s1") == Children(pending=0, running=0)
    assert not store.exists("s1:siem@f.0000000000000000")


def test_a_finished_child_frees_its_slot_for_the_next_in_listing_order(store: Store) -> None:
    stream = store.acquire("s1:siem", ttl_seconds=30)
    assert stream is not None
    store.adopt(stream, 0, "after-listing", children_of(3), now=5.0, bound=2)
    first = store.acquire("s1:siem@f.0000000000000000", ttl_seconds=30)
    assert first is not None
    store.commit(first, 0, "file-0 line 500", now=6.0)

    admitted = store.finish(first, expected_version=1, now=7.0, bound=2)

    assert admitted == ["s1:siem@f.0000000000000002"]
    assert not store.exists("s1:siem@f.0000000000000000")
    assert store.due_at("s1:siem@f.0000000000000000") is None
    assert store.children("s1") == Children(pending=0, running=2)


def test_children_adopted_later_with_an_earlier_order_take_the_next_free_slot(store: Store) -> None:
    siem = store.acquire("s1:siem", ttl_seconds=30)
    dlp = store.acquire("s1:dlp", ttl_seconds=30)
    assert siem is not None
    assert dlp is not None
    assert store.adopt(siem, 0, "after-listing", children_of(3), now=5.0, bound=1)[1] == [
        "s1:siem@f.0000000000000000"
    ]
    windows = [("s1:dlp@w.100", "window-100"), ("s1:dlp@w.200", "window-200")]
    # Handed out a second later, but queued an hour ahead (`units.queue_order`): they go first.
    assert store.adopt(dlp, 0, "after-split", windows, now=6.0, bound=1, order=6000 - 3_600_000)[1] == []
    running = store.acquire("s1:siem@f.0000000000000000", ttl_seconds=30)
    assert running is not None

    assert store.finish(running, expected_version=0, now=7.0, bound=1) == ["s1:dlp@w.100"]


def test_a_child_listed_again_is_not_adopted_twice(store: Store) -> None:
    stream = store.acquire("s1:siem", ttl_seconds=30)
    assert stream is not None
    version, _ = store.adopt(stream, 0, "a", children_of(2), now=5.0, bound=8)
    store.adopt(stream, version, "b", children_of(2), now=6.0, bound=8)

    assert store.children("s1") == Children(pending=0, running=2)
    assert store.checkpoint("s1:siem@f.0000000000000000").version == 0


def test_after_a_halt_the_next_hand_off_makes_every_running_child_due_again(store: Store) -> None:
    stream = store.acquire("s1:siem", ttl_seconds=30)
    assert stream is not None
    store.adopt(stream, 0, "a", children_of(3), now=5.0, bound=2)
    for unit, _ in children_of(3):
        store.unschedule(unit)  # the gate sent them away while halted

    resumed = store.resume_children("s1", now=50.0)

    assert sorted(resumed) == [unit for unit, _ in children_of(2)]
    assert all(store.due_at(unit) == 50.0 for unit in resumed)


def test_halts_are_kept_per_collection_and_for_every_collection_until_cleared(store: Store) -> None:
    assert store.halts("s1") == {}
    store.halt("s1", 3, "auditEvent")
    store.halt("s1", 4, "siem")
    store.halt("s2", 7)  # every collection of another source

    assert store.halts("s1") == {"auditEvent": 3, "siem": 4}
    assert store.halts("s2") == {EVERY_COLLECTION: 7}
    store.clear_halt("s1")
    assert store.halts("s1") == {}
    assert store.halts("s2") == {EVERY_COLLECTION: 7}


def test_a_parked_child_gives_its_slot_to_the_next_and_the_hand_off_puts_it_back_in_line(
    store: Store,
) -> None:
    # Given two SIEM files running (the bound) and one dlp sub-window waiting for a slot
    siem = store.acquire("s1:siem", ttl_seconds=30)
    assert siem is not None
    store.adopt(siem, 0, "a", children_of(2), now=5.0, bound=2)
    dlp = store.acquire("s1:dlp", ttl_seconds=30)
    assert dlp is not None
    store.adopt(dlp, 0, "w", [("s1:dlp@w.1", "window")], now=6.0, bound=2)
    assert store.children("s1") == Children(pending=1, running=2)

    # when SIEM halts and its first file is parked, the dlp sub-window takes the slot, due at once
    first, second = (unit for unit, _ in children_of(2))
    assert store.park(first, now=10.0, bound=2) == ["s1:dlp@w.1"]
    assert store.due_at("s1:dlp@w.1") == 10.0
    assert store.due_at(first) is None
    assert store.children("s1") == Children(pending=0, running=2)
    assert store.parked("s1") == [first]
    assert store.park(second, now=11.0, bound=2) == []  # nothing else waits
    assert store.parked("s1") == [first, second]

    # then the next hand-off (an update or a restart) puts the parked files back in line, in order
    store.resume_children("s1", now=50.0)
    assert store.parked("s1") == []
    assert store.children("s1") == Children(pending=2, running=1)
    assert store.pump("s1", now=51.0, bound=2) == [first]
    assert store.checkpoint(first).cursor == "file-0"  # kept: it reads on from where it was


def test_a_reset_drops_parked_children_too(store: Store) -> None:
    siem = store.acquire("s1:siem", ttl_seconds=30)
    assert siem is not None
    store.adopt(siem, 0, "a", children_of(1), now=5.0, bound=2)
    [(child, _)] = children_of(1)
    store.park(child, now=10.0, bound=2)

    store.reset("s1:siem", "from-the-start")

    assert store.parked("s1") == []
    store.resume_children("s1", now=50.0)
    assert store.children("s1") == Children(pending=0, running=0)


def test_a_reset_drops_the_streams_children_and_fences_them(store: Store) -> None:
    stream = store.acquire("s1:siem", ttl_seconds=30)
    assert stream is not None
    store.adopt(stream, 0, "a", children_of(3), now=5.0, bound=2)
    reading = store.acquire("s1:siem@f.0000000000000000", ttl_seconds=30)
    assert reading is not None

    store.reset("s1:siem", "from-the-start")

    assert store.children("s1") == Children(pending=0, running=0)
    assert store.due_at("s1:siem@f.0000000000000000") is None
    with pytest.raises(StaleCommit):
        store.commit(reading, 0, "line 500", now=6.0)
    assert store.checkpoint("s1:siem").cursor == "from-the-start"
