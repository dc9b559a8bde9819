"""Events: callbacks, handles and streams against the real test driver."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

import virtkit
from virtkit.connection import Connection
from virtkit.constants import (
    DomainEventID,
    DomainEventStartedDetailType,
    DomainEventStoppedDetailType,
    DomainEventSuspendedDetailType,
    DomainEventType,
    DomainMetadataType,
    NetworkEventLifecycleType,
    StoragePoolEventLifecycleType,
)
from virtkit.events import DomainEvent, EventHandle, EventStream
from virtkit.handles import Domain, Network, StoragePool

NEW_DOMAIN = """<domain type='test'>
  <name>{name}</name>
  <memory>1048576</memory>
  <os><type>hvm</type></os>
</domain>"""


@pytest.fixture
def conn() -> Iterator[Connection]:
    with virtkit.open("test:///default") as c:
        yield c


def test_domain_lifecycle_callback(conn: Connection) -> None:
    seen: list[tuple[Domain, int, DomainEventType, int]] = []
    handle = conn.on_domain_event(lambda d, eid, ev, detail: seen.append((d, eid, ev, detail)))
    assert isinstance(handle, EventHandle) and handle.active
    dom = conn.lookup_domain("test")
    dom.suspend()
    dom.resume()
    dom.destroy()
    assert [(d.name, eid, ev, det) for d, eid, ev, det in seen] == [
        ("test", DomainEventID.LIFECYCLE, DomainEventType.SUSPENDED,
         DomainEventSuspendedDetailType.PAUSED),
        ("test", DomainEventID.LIFECYCLE, DomainEventType.RESUMED, 0),
        ("test", DomainEventID.LIFECYCLE, DomainEventType.STOPPED,
         DomainEventStoppedDetailType.DESTROYED),
    ]
    # the handle is a real Domain on this connection, and the event type an enum
    d, _, ev, _ = seen[0]
    assert isinstance(d, Domain) and d.connection is conn
    assert type(ev) is DomainEventType


def test_cancel_stops_delivery(conn: Connection) -> None:
    seen: list[object] = []
    handle = conn.on_domain_event(lambda *a: seen.append(a))
    handle.cancel()
    assert not handle.active
    handle.cancel()  # twice is harmless
    conn.lookup_domain("test").suspend()
    assert seen == []


def test_filter_by_domain(conn: Connection) -> None:
    other = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
    seen: list[str] = []
    conn.on_domain_event(lambda d, *a: seen.append(d.name), domain=other)
    conn.lookup_domain("test").suspend()
    other.start()
    assert seen == ["vm1"]


def test_other_event_ids_are_separate(conn: Connection) -> None:
    lifecycle: list[object] = []
    changes: list[tuple[object, ...]] = []
    conn.on_domain_event(lambda *a: lifecycle.append(a))
    conn.on_domain_event(
        lambda d, eid, *p: changes.append((d.name, eid, p)), DomainEventID.METADATA_CHANGE
    )
    conn.lookup_domain("test").set_metadata(DomainMetadataType.TITLE, "hello")
    # payload after the domain: (type, nsuri), as libvirt's callback receives them
    assert changes == [("test", DomainEventID.METADATA_CHANGE, (DomainMetadataType.TITLE, None))]
    assert lifecycle == []


def test_raising_callback_is_logged_and_others_still_run(
    conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    def bad(*args: object) -> None:
        raise RuntimeError("callback bug")

    seen: list[object] = []
    conn.on_domain_event(bad)
    conn.on_domain_event(lambda *a: seen.append(a))
    with caplog.at_level(logging.ERROR, logger="virtkit.events"):
        conn.lookup_domain("test").suspend()
    assert len(seen) == 1
    assert "callback bug" in caplog.text
    # the driver still works afterwards
    conn.lookup_domain("test").resume()
    assert len(seen) == 2


def test_stream(conn: Connection) -> None:
    stream = conn.domain_events()
    assert isinstance(stream, EventStream)
    dom = conn.lookup_domain("test")
    dom.suspend()
    dom.resume()
    ev = stream.get(timeout=1)
    assert isinstance(ev, DomainEvent)
    assert ev.domain.name == "test"
    assert ev.event_id == DomainEventID.LIFECYCLE
    assert ev.payload == (DomainEventType.SUSPENDED, DomainEventSuspendedDetailType.PAUSED)
    ev2 = stream.get(timeout=1)
    assert ev2 is not None and ev2.payload[0] == DomainEventType.RESUMED
    assert stream.get(timeout=0.05) is None  # nothing more: times out
    stream.close()
    assert stream.closed
    dom.suspend()
    assert stream.get(timeout=0.05) is None


def test_stream_iteration_ends_on_close(conn: Connection) -> None:
    stream = conn.domain_events()
    got: list[DomainEvent] = []

    def reader() -> None:
        got.extend(stream)

    t = threading.Thread(target=reader)
    t.start()
    dom = conn.lookup_domain("test")
    dom.suspend()
    dom.resume()
    stream.close()
    t.join(timeout=5)
    assert not t.is_alive()
    assert [e.payload[0] for e in got] == [DomainEventType.SUSPENDED, DomainEventType.RESUMED]


def test_stream_fed_from_another_thread(conn: Connection) -> None:
    with conn.domain_events() as stream:
        dom = conn.lookup_domain("test")
        t = threading.Thread(target=dom.destroy)
        t.start()
        ev = stream.get(timeout=5)
        t.join()
        assert ev is not None
        assert ev.payload == (DomainEventType.STOPPED, DomainEventStoppedDetailType.DESTROYED)
    assert stream.closed


def test_started_event_from_define_and_start(conn: Connection) -> None:
    with conn.domain_events() as stream:
        dom = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
        dom.start()
        events = [stream.get(timeout=1) for _ in range(2)]
    assert [e.payload[0] for e in events if e] == [DomainEventType.DEFINED, DomainEventType.STARTED]
    started = events[1]
    assert started is not None and started.payload[1] == DomainEventStartedDetailType.BOOTED


def test_close_connection_deregisters_and_ends_streams() -> None:
    c = virtkit.open("test:///default")
    handle = c.on_domain_event(lambda *a: None)
    stream = c.domain_events()
    c.close()
    assert not handle.active
    assert stream.closed
    assert list(stream) == []


def test_network_events(conn: Connection) -> None:
    seen: list[tuple[Network, int, object, int]] = []
    conn.on_network_event(lambda n, eid, ev, det: seen.append((n, eid, ev, det)))
    net = conn.lookup_network("default")
    net.destroy()
    net.start()
    assert [(n.name, ev) for n, _, ev, _ in seen] == [
        ("default", NetworkEventLifecycleType.STOPPED),
        ("default", NetworkEventLifecycleType.STARTED),
    ]
    with conn.network_events() as stream:
        net.destroy()
        ev = stream.get(timeout=1)
    assert ev is not None and ev.network == net


def test_storage_pool_events(conn: Connection) -> None:
    seen: list[tuple[StoragePool, int, object, int]] = []
    conn.on_storage_pool_event(lambda p, eid, ev, det: seen.append((p, eid, ev, det)))
    pool = conn.lookup_storage_pool("default-pool")
    pool.destroy()
    assert [(p.name, ev) for p, _, ev, _ in seen] == [
        ("default-pool", StoragePoolEventLifecycleType.STOPPED)
    ]
    with conn.storage_pool_events() as stream:
        pool.start()
        ev = stream.get(timeout=1)
    assert ev is not None and ev.pool == pool
    assert ev.payload[0] == StoragePoolEventLifecycleType.STARTED
