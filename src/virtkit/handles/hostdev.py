"""Host interfaces and node devices: the Interface and NodeDevice handles, and the
Connection calls that make them (``HostObjectsMixin``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from virtkit.errors import invalid_arg
from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import InterfaceIdent, NodeDeviceIdent

if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.drivers.base import DriverTables
    from virtkit.events import EventHandle

__all__ = ["HostObjectsMixin", "Interface", "NodeDevice"]

_I = ErrorDomain.INTERFACE
_D = ErrorDomain.NODEDEV
_REGISTER = "virConnectNodeDeviceEventRegisterAny"
_EVENT_ID_LAST = 2  # VIR_NODE_DEVICE_EVENT_ID_LAST: LIFECYCLE, UPDATE


class Interface(Handle[InterfaceIdent]):
    """A physical host interface (virInterfacePtr); equal handles share the name."""

    __slots__ = ()

    @property
    def mac(self) -> str:
        """The MAC address ("" when the definition has none)."""
        return self._ident.mac

    def _key(self) -> Any:
        return self._ident.name

    def __repr__(self) -> str:
        return f"<Interface {self._ident.name!r} mac={self._ident.mac!r}>"

    def xml(self, flags: int = 0) -> str:
        """virInterfaceGetXMLDesc (flags: InterfaceXMLFlags)."""
        return self._conn.tables.interface.interface_get_xml_desc(self._ident, flags)

    def is_active(self) -> bool:
        """virInterfaceIsActive."""
        return self._conn.tables.interface.interface_is_active(self._ident)

    def start(self, flags: int = 0) -> None:
        """virInterfaceCreate ("if-up")."""
        self._conn._check_write("virInterfaceCreate", _I)
        self._conn.tables.interface.interface_create(self._ident, flags)

    def destroy(self, flags: int = 0) -> None:
        """virInterfaceDestroy ("if-down")."""
        self._conn._check_write("virInterfaceDestroy", _I)
        self._conn.tables.interface.interface_destroy(self._ident, flags)

    def undefine(self) -> None:
        """virInterfaceUndefine."""
        self._conn._check_write("virInterfaceUndefine", _I)
        self._conn.tables.interface.interface_undefine(self._ident)


class NodeDevice(Handle[NodeDeviceIdent]):
    """A node device (virNodeDevicePtr); equal handles share the name."""

    __slots__ = ()

    def _key(self) -> Any:
        return self._ident.name

    def __repr__(self) -> str:
        return f"<NodeDevice {self._ident.name!r}>"

    def xml(self, flags: int = 0) -> str:
        """virNodeDeviceGetXMLDesc."""
        return self._conn.tables.nodedev.node_device_get_xml_desc(self._ident, flags)

    def parent(self) -> str | None:
        """virNodeDeviceGetParent: the parent's name, None for the root device."""
        return self._conn.tables.nodedev.node_device_get_parent(self._ident)

    def num_of_caps(self) -> int:
        """virNodeDeviceNumOfCaps."""
        return self._conn.tables.nodedev.node_device_num_of_caps(self._ident)

    def caps(self) -> list[str]:
        """virNodeDeviceListCaps: the device's capability names."""
        drv = self._conn.tables.nodedev
        return drv.node_device_list_caps(self._ident, drv.node_device_num_of_caps(self._ident))

    def is_active(self) -> bool:
        """virNodeDeviceIsActive."""
        return self._conn.tables.nodedev.node_device_is_active(self._ident)

    def is_persistent(self) -> bool:
        """virNodeDeviceIsPersistent."""
        return self._conn.tables.nodedev.node_device_is_persistent(self._ident)

    @property
    def autostart(self) -> bool:
        """virNodeDeviceGetAutostart: whether the device starts with the host."""
        return self._conn.tables.nodedev.node_device_get_autostart(self._ident)

    def destroy(self) -> None:
        """virNodeDeviceDestroy (a vHBA made by create_node_device)."""
        self._conn._check_write("virNodeDeviceDestroy", _D)
        self._conn.tables.nodedev.node_device_destroy(self._ident)

    # PCI assignment: libvirt's hypervisor table carries these (virNodeDeviceDettach...)

    def detach(self, driver_name: str | None = None, flags: int = 0) -> None:
        """Unbind the PCI device from its host driver for assignment to guests
        (virNodeDeviceDetachFlags; ``driver_name``: "vfio", None for the default)."""
        hv = self._conn.tables.hypervisor
        if driver_name is None and not flags:
            self._conn._check_write("virNodeDeviceDettach", _D)
            hv.node_device_dettach(self._ident)
            return
        self._conn._check_write("virNodeDeviceDetachFlags", _D)
        hv.node_device_detach_flags(self._ident, driver_name, flags)

    def reattach(self) -> None:
        """Give the PCI device back to its host driver (virNodeDeviceReAttach)."""
        self._conn._check_write("virNodeDeviceReAttach", _D)
        self._conn.tables.hypervisor.node_device_re_attach(self._ident)

    def reset(self) -> None:
        """Reset the PCI device (virNodeDeviceReset)."""
        self._conn._check_write("virNodeDeviceReset", _D)
        self._conn.tables.hypervisor.node_device_reset(self._ident)


class HostObjectsMixin:
    """The Connection's interface and node device calls (mixed into Connection)."""

    __slots__ = ()

    if TYPE_CHECKING:
        @property
        def tables(self) -> DriverTables: ...

        def _check_write(self, function: str, domain: int) -> None: ...

        def _track(self, callback_id: int, deregister: Callable[[int], None]) -> EventHandle: ...

    def _me(self) -> Connection:
        return self  # type: ignore[return-value]

    # ------------------------------------------------------------ interfaces

    def list_interfaces(self, flags: int = 0) -> list[Interface]:
        """virConnectListAllInterfaces (flags: ConnectListAllInterfacesFlags)."""
        idents = self.tables.interface.connect_list_all_interfaces(flags)
        return [Interface(self._me(), i) for i in idents]

    def num_of_interfaces(self) -> int:
        """virConnectNumOfInterfaces (active ones)."""
        return self.tables.interface.connect_num_of_interfaces()

    def num_of_defined_interfaces(self) -> int:
        """virConnectNumOfDefinedInterfaces (inactive ones)."""
        return self.tables.interface.connect_num_of_defined_interfaces()

    def lookup_interface(self, name: str) -> Interface:
        """virInterfaceLookupByName."""
        return Interface(self._me(), self.tables.interface.interface_lookup_by_name(name))

    def lookup_interface_by_mac(self, mac: str) -> Interface:
        """virInterfaceLookupByMACString."""
        return Interface(self._me(), self.tables.interface.interface_lookup_by_mac_string(mac))

    def define_interface(self, xml: str, flags: int = 0) -> Interface:
        """virInterfaceDefineXML (flags: InterfaceDefineFlags)."""
        self._check_write("virInterfaceDefineXML", _I)
        return Interface(self._me(), self.tables.interface.interface_define_xml(xml, flags))

    def interface_change_begin(self, flags: int = 0) -> None:
        """virInterfaceChangeBegin: a restore point for the interface configuration."""
        self._check_write("virInterfaceChangeBegin", _I)
        self.tables.interface.interface_change_begin(flags)

    def interface_change_commit(self, flags: int = 0) -> None:
        """virInterfaceChangeCommit."""
        self._check_write("virInterfaceChangeCommit", _I)
        self.tables.interface.interface_change_commit(flags)

    def interface_change_rollback(self, flags: int = 0) -> None:
        """virInterfaceChangeRollback."""
        self._check_write("virInterfaceChangeRollback", _I)
        self.tables.interface.interface_change_rollback(flags)

    # ------------------------------------------------------------ node devices

    def list_node_devices(self, flags: int = 0) -> list[NodeDevice]:
        """virConnectListAllNodeDevices (flags: ConnectListAllNodeDeviceFlags)."""
        idents = self.tables.nodedev.connect_list_all_node_devices(flags)
        return [NodeDevice(self._me(), i) for i in idents]

    def num_of_node_devices(self, cap: str | None = None) -> int:
        """virNodeNumOfDevices, optionally of one capability."""
        return self.tables.nodedev.node_num_of_devices(cap, 0)

    def list_node_device_names(self, cap: str | None = None) -> list[str]:
        """virNodeListDevices, optionally of one capability."""
        drv = self.tables.nodedev
        return drv.node_list_devices(cap, drv.node_num_of_devices(cap, 0), 0)

    def lookup_node_device(self, name: str) -> NodeDevice:
        """virNodeDeviceLookupByName."""
        return NodeDevice(self._me(), self.tables.nodedev.node_device_lookup_by_name(name))

    def lookup_scsi_host_by_wwn(self, wwnn: str, wwpn: str) -> NodeDevice:
        """virNodeDeviceLookupSCSIHostByWWN."""
        drv = self.tables.nodedev
        return NodeDevice(self._me(), drv.node_device_lookup_scsi_host_by_wwn(wwnn, wwpn, 0))

    def create_node_device(self, xml: str, flags: int = 0) -> NodeDevice:
        """virNodeDeviceCreateXML (a vHBA; flags: NodeDeviceCreateXMLFlags)."""
        self._check_write("virNodeDeviceCreateXML", _D)
        return NodeDevice(self._me(), self.tables.nodedev.node_device_create_xml(xml, flags))

    def on_node_device_event(
        self,
        callback: Callable[..., object],
        event_id: int = 0,
        device: NodeDevice | None = None,
    ) -> EventHandle:
        """Call ``callback(device, event_id, *payload)`` for each node device event
        (virConnectNodeDeviceEventRegisterAny; ``device``: only that device's events).

        LIFECYCLE's (event id 0) payload is ``(NodeDeviceEventLifecycleType, detail)``;
        UPDATE (1) has none.
        """
        from virtkit.constants import NodeDeviceEventLifecycleType
        from virtkit.events import make_relay

        event_id = int(event_id)
        # the public API's checks (libvirt-nodedev.c), whatever the driver
        if event_id < 0:
            raise invalid_arg(f"eventID in {_REGISTER} must be zero or greater", _D)
        if event_id >= _EVENT_ID_LAST:
            raise invalid_arg(f"eventID in {_REGISTER} must be less than {_EVENT_ID_LAST}", _D)
        drv = self.tables.nodedev
        relay = make_relay(lambda i: NodeDevice(self._me(), i), callback,
                           NodeDeviceEventLifecycleType)
        cid = drv.connect_node_device_event_register_any(
            None if device is None else device._ident, event_id, relay)
        return self._track(cid, drv.connect_node_device_event_deregister_any)
