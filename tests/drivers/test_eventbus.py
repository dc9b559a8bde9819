"""drivers/eventbus.py: one dispatcher thread per connection (owner), order kept per owner,
a slow callback of one owner stalls neither the flushing thread nor another owner."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from virtkit.drivers.eventbus import DOMAIN, EventBus
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import DomainIdent

GUARD = 60.0  # hang guard only

A = DomainIdent("a", "00000000-0000-0000-0000-00000000000a", 1)
B = DomainIdent("b", "00000000-0000-0000-0000-00000000000b", 2)


class Owner:
    """Stands for a connection."""


def _emit(bus: EventBus, ident: DomainIdent, payload: tuple[object, ...], *,
          wait: bool = True) -> None:
    bus.queue(DOMAIN, ident, 0, payload)
    bus.flush(wait=wait)


def test_registering_thread_sees_its_events_when_the_call_returns() -> None:
    bus = EventBus()
    seen: list[tuple[str, tuple[object, ...], str]] = []
    bus.register(DOMAIN, 0, None, lambda d, _e, p: seen.append(
        (d.name, p, threading.current_thread().name)), Owner())
    for i in range(5):
        _emit(bus, A, (i, 0))
    assert [s[1] for s in seen] == [(i, 0) for i in range(5)]
    names = {s[2] for s in seen}
    assert len(names) == 1 and next(iter(names)).startswith("virtkit-events-")
    assert threading.current_thread().name not in names


def test_slow_callback_of_one_owner_stalls_neither_flusher_nor_other_owner() -> None:
    bus = EventBus()
    hold, entered, fast_got = threading.Event(), threading.Event(), threading.Event()
    slow_seen: list[object] = []
    fast_seen: list[object] = []

    def slow(_d: Any, _e: int, p: tuple[object, ...]) -> None:
        entered.set()
        hold.wait(GUARD)
        slow_seen.append(p)

    def fast(_d: Any, _e: int, p: tuple[object, ...]) -> None:
        fast_seen.append(p)
        if len(fast_seen) == 3:
            fast_got.set()

    # registered on other threads: this thread's flushes never wait for them
    for cb in (slow, fast):
        t = threading.Thread(target=bus.register, args=(DOMAIN, 0, None, cb, Owner()))
        t.start()
        t.join(GUARD)
    for i in range(3):
        _emit(bus, A, (i,))
    assert entered.wait(GUARD)
    assert fast_got.wait(GUARD)
    assert fast_seen == [(0,), (1,), (2,)]
    assert slow_seen == [] and not hold.is_set()
    hold.set()
    assert bus.wait_delivered(GUARD)
    assert slow_seen == [(0,), (1,), (2,)]  # in order, once released


def test_flush_without_wait_returns_before_delivery() -> None:
    bus = EventBus()
    hold, entered = threading.Event(), threading.Event()
    seen: list[object] = []

    def cb(_d: Any, _e: int, p: tuple[object, ...]) -> None:
        entered.set()
        hold.wait(GUARD)
        seen.append(p)

    bus.register(DOMAIN, 0, None, cb, Owner())
    _emit(bus, A, (1,), wait=False)  # as a QMP event thread flushes
    assert entered.wait(GUARD)
    assert seen == []
    assert not bus.wait_delivered(0.01)
    hold.set()
    assert bus.wait_delivered(GUARD) and seen == [(1,)]


def test_uuid_filter_and_raising_callback() -> None:
    bus = EventBus()
    seen: list[str] = []
    owner = Owner()

    def bad(*_a: Any) -> None:
        raise RuntimeError("callback bug")

    bus.register(DOMAIN, 0, None, bad, owner)
    bus.register(DOMAIN, 0, B.uuid, lambda d, _e, _p: seen.append(d.name), owner)
    _emit(bus, A, (0, 0))
    _emit(bus, B, (0, 0))
    assert seen == ["b"]  # the raising callback was logged; delivery went on


def test_callback_may_call_back_and_flush() -> None:
    bus = EventBus()
    seen: list[object] = []

    def cb(d: Any, _e: int, p: tuple[object, ...]) -> None:
        seen.append(p)
        if p == ("first",):  # a callback that triggers another event: no self-deadlock
            _emit(bus, d, ("second",))

    bus.register(DOMAIN, 0, None, cb, Owner())
    _emit(bus, A, ("first",))  # returns once "first" was delivered: "second" is handed over
    assert bus.wait_delivered(GUARD)
    assert seen == [("first",), ("second",)]


def test_deregister_and_drop_owner_end_the_thread() -> None:
    bus = EventBus()
    one, two = Owner(), Owner()
    cid = bus.register(DOMAIN, 0, None, lambda *a: None, one)
    cid2 = bus.register(DOMAIN, 1, None, lambda *a: None, one)
    bus.register(DOMAIN, 0, None, lambda *a: None, two)
    threads = bus.dispatcher_threads()
    assert len(threads) == 2 and all(t.daemon for t in threads)
    with pytest.raises(VirtError) as exc:
        bus.deregister(cid, two)  # not its owner's
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert exc.value.message == (f"invalid argument: could not find event callback {cid} "
                                 "for deletion")
    bus.deregister(cid, one)
    assert len(bus.dispatcher_threads()) == 2  # one still has a callback
    bus.deregister(cid2, one)
    bus.drop_owner(two)
    for t in threads:
        t.join(GUARD)
        assert not t.is_alive()
    assert bus.dispatcher_threads() == [] and not bus.active


def test_deregistered_callback_gets_no_queued_event() -> None:
    bus = EventBus()
    hold, entered = threading.Event(), threading.Event()
    seen: list[object] = []
    owner = Owner()

    def first(*_a: Any) -> None:
        entered.set()
        hold.wait(GUARD)

    bus.register(DOMAIN, 0, None, first, owner)
    cid = bus.register(DOMAIN, 0, None, lambda d, _e, p: seen.append(p), owner)
    _emit(bus, A, (1,), wait=False)
    assert entered.wait(GUARD)
    bus.deregister(cid, owner)  # while its event waits behind the held callback
    hold.set()
    assert bus.wait_delivered(GUARD)
    assert seen == []
