"""virNodeDeviceDriver for the real host (libvirt's node_device_driver.c over its udev
backend), and the ``nodedev:///system`` connection of modular libvirt."""

from __future__ import annotations

import threading

from virtkit.constants import (
    ConnectListAllNodeDeviceFlags,
    NodeDeviceEventID,
)
from virtkit.drivers import state
from virtkit.drivers.base import (
    DriverTables,
    NodeDeviceDriver,
    NodeDeviceEventCallback,
    SecondaryConnection,
)
from virtkit.drivers.links import PciInUse
from virtkit.drivers.nodedev.hostdev import PCIHostdev
from virtkit.drivers.nodedev.model import DeviceDef, SCSIHostCap
from virtkit.drivers.nodedev.sysfs import HostPaths
from virtkit.drivers.nodedev.table import EVENT_KIND, DeviceTable, release, table_for
from virtkit.drivers.nodedev.xmlfmt import format_device
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error
from virtkit.nodedev_caps import CAP_TYPES
from virtkit.types import NodeDeviceIdent
from virtkit.uri import ParsedURI

__all__ = ["HostNodeDeviceDriver", "open_connection"]

_ND = ErrorDomain.NODEDEV
_F = ConnectListAllNodeDeviceFlags
_FILTERS_CAP = (1 << len(CAP_TYPES)) - 1
_FILTERS_ALL = _FILTERS_CAP | _F.ACTIVE | _F.INACTIVE


def _no_device(name: str) -> VirtError:
    return make_error(ErrorCode.NO_NODE_DEVICE, _ND, f"no node device with matching name '{name}'")


def _check(flags: int, allowed: int, function: str) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags, function, _ND)


def has_cap(d: DeviceDef, cap: str) -> bool:
    """virNodeDeviceObjHasCap."""
    return cap in d.cap_names()


class HostNodeDeviceDriver(NodeDeviceDriver):
    """The host's node devices, shared by the connections of one process.

    Made with a table, or with host paths: then the table is taken on first use, so a
    connection that never asks for node devices never enumerates them."""

    def __init__(self, table: DeviceTable | HostPaths, owns: bool = True) -> None:
        self._table = table if isinstance(table, DeviceTable) else None
        self._paths = table if isinstance(table, HostPaths) else None
        self._owns = owns if self._table is not None else False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def table(self) -> DeviceTable:
        with self._lock:
            if self._table is None:
                if self._closed or self._paths is None:
                    raise make_error(ErrorCode.INTERNAL_ERROR, _ND,
                                     "nodedev state driver is not active")
                self._table, self._owns = table_for(self._paths), True
            return self._table

    def close(self) -> None:
        """The connection closes: drop its callbacks and its hold on the table."""
        with self._lock:
            self._closed = True
            table, owns = self._table, self._owns
            self._owns = False
        if table is not None:
            table.events.drop_owner(self)
            if owns:
                release(table)

    def pci_hostdevs(self, in_use: PciInUse | None = None) -> PCIHostdev:
        """Detach/reattach/reset of this host's PCI devices for a hypervisor driver
        (``links.HostDevices``); ``in_use`` names the domain using an address."""
        return PCIHostdev(self.table, in_use)

    def _find(self, name: str) -> DeviceDef:
        d = self.table.get(name)
        if d is None:
            raise _no_device(name)
        return d

    def connect_list_all_node_devices(self, flags: int = 0) -> list[NodeDeviceIdent]:
        _check(flags, _FILTERS_ALL, "nodeConnectListAllNodeDevices")
        wanted = [c for i, c in enumerate(CAP_TYPES) if flags >> i & 1]
        out = []
        for d in self.table.snapshot():
            if wanted and not any(has_cap(d, c) for c in wanted):
                continue
            # every device of the udev backend is active
            if flags & (_F.ACTIVE | _F.INACTIVE) and not flags & _F.ACTIVE:
                continue
            out.append(NodeDeviceIdent(d.name))
        return out

    def node_num_of_devices(self, cap: str | None = None, flags: int = 0) -> int:
        _check(flags, 0, "nodeNumOfDevices")
        return sum(1 for d in self.table.snapshot() if cap is None or has_cap(d, cap))

    def node_list_devices(self, cap: str | None, maxnames: int, flags: int = 0) -> list[str]:
        _check(flags, 0, "nodeListDevices")
        return [d.name for d in self.table.snapshot() if cap is None or has_cap(d, cap)][:maxnames]

    def node_device_lookup_by_name(self, name: str) -> NodeDeviceIdent:
        return NodeDeviceIdent(self._find(name).name)

    def node_device_lookup_scsi_host_by_wwn(self, wwnn: str, wwpn: str,
                                            flags: int = 0) -> NodeDeviceIdent:
        _check(flags, 0, "nodeDeviceLookupSCSIHostByWWN")
        for d in self.table.snapshot():
            fresh = self.table.refreshed(d) if isinstance(d.cap, SCSIHostCap) else d
            c = fresh.cap
            if isinstance(c, SCSIHostCap) and c.fc_host and (c.wwnn, c.wwpn) == (wwnn, wwpn):
                return NodeDeviceIdent(d.name)
        # libvirt reports nothing here: its clients see the "unknown cause" error
        raise VirtError("An error occurred, but the cause is unknown",
                        code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.NONE)

    def node_device_get_xml_desc(self, dev: NodeDeviceIdent, flags: int = 0) -> str:
        _check(flags, 0, "nodeDeviceGetXMLDesc")
        return format_device(self.table.refreshed(self._find(dev.name)))

    def node_device_get_parent(self, dev: NodeDeviceIdent) -> str | None:
        """None for ``computer``: what libvirtd sends for it (its dispatcher drops the
        driver's "no parent for this device")."""
        return self._find(dev.name).parent

    def node_device_num_of_caps(self, dev: NodeDeviceIdent) -> int:
        return len(self.table.refreshed(self._find(dev.name)).cap_names())

    def node_device_list_caps(self, dev: NodeDeviceIdent, maxnames: int) -> list[str]:
        return self.table.refreshed(self._find(dev.name)).cap_names()[:maxnames]

    def node_device_is_active(self, dev: NodeDeviceIdent) -> bool:
        self._find(dev.name)
        return True

    def node_device_is_persistent(self, dev: NodeDeviceIdent) -> bool:
        return dev.name == "computer" and self._find(dev.name) is not None

    def node_device_get_autostart(self, dev: NodeDeviceIdent) -> bool:
        return dev.name == "computer" and self._find(dev.name) is not None

    def connect_node_device_event_register_any(
        self, dev: NodeDeviceIdent | None, event_id: int, callback: NodeDeviceEventCallback
    ) -> int:
        if not 0 <= event_id < len(NodeDeviceEventID):
            raise make_error(ErrorCode.INVALID_ARG, _ND,
                             "eventID in virConnectNodeDeviceEventRegisterAny must be less "
                             f"than {len(NodeDeviceEventID)}")
        return self.table.events.register(EVENT_KIND, event_id,
                                          None if dev is None else dev.name, callback, self)

    def connect_node_device_event_deregister_any(self, callback_id: int) -> None:
        self.table.events.deregister(callback_id, self)


def host_driver(paths: HostPaths | None = None) -> HostNodeDeviceDriver:
    """A driver on the host's table, taken on first use (``close()`` releases it)."""
    return HostNodeDeviceDriver(paths or HostPaths())


def open_connection(uri: ParsedURI, flags: int = 0,
                    ctx: state.OpenContext | None = None) -> DriverTables | None:
    """``nodedev:///system`` inside virtkitd (elsewhere it goes to the daemon); None declines."""
    if (uri.path or "") != "/system" or ctx is None:
        return None
    drv = host_driver()
    return DriverTables(SecondaryConnection("nodedev", str(uri), [drv.close]), nodedev=drv)
