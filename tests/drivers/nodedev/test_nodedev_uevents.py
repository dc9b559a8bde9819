"""Hot-plug: an ifb link (this kernel has no dummy module) made in this host's
namespace appears as a node device with a CREATED lifecycle event; deleting it removes
the device with DELETED (kernel uevents read over NETLINK_KOBJECT_UEVENT). The link
has a unique name and is always deleted."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from virtkit.constants import NodeDeviceEventID, NodeDeviceEventLifecycleType
from virtkit.drivers.nodedev.driver import HostNodeDeviceDriver, host_driver
from virtkit.drivers.nodedev.monitor import parse_uevent
from virtkit.types import NodeDeviceIdent

HANG_GUARD = 30.0


@pytest.fixture
def drv() -> Iterator[HostNodeDeviceDriver]:
    d = host_driver()
    yield d
    d.close()


@pytest.fixture
def link_name() -> Iterator[str]:
    name = f"vkd{secrets.token_hex(4)}"
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def test_link_created_and_deleted(drv: HostNodeDeviceDriver, link_name: str) -> None:
    seen: list[tuple[str, int]] = []
    arrived = threading.Condition()

    def on_event(ident: NodeDeviceIdent, eid: int, payload: tuple[object, ...]) -> None:
        if ident.name.startswith(f"net_{link_name}_"):
            with arrived:
                seen.append((ident.name, int(payload[0])))  # type: ignore[call-overload]
                arrived.notify_all()

    cid = drv.connect_node_device_event_register_any(None, NodeDeviceEventID.LIFECYCLE,
                                                     on_event)
    try:
        subprocess.run(["ip", "link", "add", link_name, "type", "ifb"], check=True)
        with open(f"/sys/class/net/{link_name}/address") as f:
            mac = f.read().strip()
        name = f"net_{link_name}_{mac.replace(':', '_')}"
        with arrived:
            assert arrived.wait_for(lambda: len(seen) >= 1, HANG_GUARD)
        assert seen[0] == (name, NodeDeviceEventLifecycleType.CREATED)
        xml = drv.node_device_get_xml_desc(drv.node_device_lookup_by_name(name))
        assert f"<interface>{link_name}</interface>" in xml
        assert f"<path>/sys/devices/virtual/net/{link_name}</path>" in xml
        subprocess.run(["ip", "link", "del", link_name], check=True)
        with arrived:
            assert arrived.wait_for(lambda: len(seen) >= 2, HANG_GUARD)
        assert seen[1] == (name, NodeDeviceEventLifecycleType.DELETED)
        assert name not in [i.name for i in drv.connect_list_all_node_devices()]
    finally:
        drv.connect_node_device_event_deregister_any(cid)


def test_parse_uevent() -> None:
    msg = b"add@/devices/virtual/net/x\0ACTION=add\0DEVPATH=/devices/virtual/net/x\0SEQNUM=1\0"
    assert parse_uevent(msg) == {"ACTION": "add", "DEVPATH": "/devices/virtual/net/x",
                                 "SEQNUM": "1"}
    assert parse_uevent(b"libudev\0\xfe\xed") is None
    assert parse_uevent(b"add@/x\0SEQNUM=1\0") is None


def test_parse_udevd_message() -> None:
    """udevd's messages: libudev's header (magic in network order), then properties."""
    props = b"ACTION=remove\0DEVPATH=/devices/virtual/net/y\0SUBSYSTEM=net\0"
    header = (b"libudev\0" + (0xFEEDCAFE).to_bytes(4, "big") + (40).to_bytes(4, sys.byteorder)
              + (40).to_bytes(4, sys.byteorder) + len(props).to_bytes(4, sys.byteorder))
    msg = header + bytes(40 - len(header)) + props
    assert parse_uevent(msg) == {"ACTION": "remove", "DEVPATH": "/devices/virtual/net/y",
                                 "SUBSYSTEM": "net"}
    assert parse_uevent(b"libudev\0" + bytes(32)) is None
