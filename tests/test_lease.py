"""The worker lease: one holder at a time among processes sharing a store, taken over on expiry."""

from __future__ import annotations

import threading

from mns.notify.lease import Lease
from mns.store import SqlStore


def test_one_holder_renewal_and_release(store: SqlStore) -> None:
    a = Lease(store.engine, "notify", owner="a", ttl_s=30)
    b = Lease(store.engine, "notify", owner="b", ttl_s=30)
    assert a.acquire() is True
    assert b.acquire() is False
    assert a.acquire() is True  # renewal
    assert a.holder() == "a" == b.holder()
    a.release()
    assert a.holder() is None
    assert b.acquire() is True
    assert a.acquire() is False
    b.release()


def test_an_expired_lease_is_taken_over(store: SqlStore) -> None:
    a = Lease(store.engine, "notify", owner="a", ttl_s=-1)  # expires as soon as it is taken
    b = Lease(store.engine, "notify", owner="b", ttl_s=30)
    assert a.acquire() is True
    assert a.holder() is None
    assert b.acquire() is True
    assert b.holder() == "b"
    assert Lease(store.engine, "notify", owner="a", ttl_s=30).acquire() is False
    assert b.release() is None


def test_leases_of_different_names_are_independent(store: SqlStore) -> None:
    assert Lease(store.engine, "notify", owner="a").acquire()
    assert Lease(store.engine, "events", owner="b").acquire()
    assert not Lease(store.engine, "events", owner="a").acquire()


def test_racing_owners_get_exactly_one_lease(store: SqlStore) -> None:
    leases = [Lease(store.engine, "race", owner=f"p{i}", ttl_s=30) for i in range(8)]
    start = threading.Barrier(len(leases))
    won: list[str] = []

    def race(lease: Lease) -> None:
        start.wait()
        if lease.acquire():
            won.append(lease.owner)

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1
    assert leases[0].holder() == won[0]
