"""The network driver's table: libvirt's virNetworkDriver on top of :class:`NetworkNode`."""

from __future__ import annotations

from virtkit.drivers.base import NetworkDriver, NetworkEventCallback
from virtkit.drivers.network import node as nn
from virtkit.drivers.network.node import NetworkNode
from virtkit.drivers.objnode import NodeTable
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.types import NetworkDHCPLease, NetworkIdent, NetworkPortIdent, TypedParams

__all__ = ["BridgeNetworkDriver"]

_NET = ErrorDomain.NETWORK


def _check_flags(flags: int, allowed: int, function: str) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags & ~allowed, function, _NET)


class BridgeNetworkDriver(NodeTable[NetworkNode], NetworkDriver):
    """One connection's network table (libvirt's bridge driver); closing it leaves the
    networks up."""

    def __init__(self, node: NetworkNode) -> None:
        super().__init__(node, nn.release)

    # ------------------------------------------------------------ listing and lookup

    def connect_num_of_networks(self) -> int:
        return len(self.node.list_all(2))

    def connect_list_networks(self, maxnames: int) -> list[str]:
        return [n.name for n in self.node.list_all(2)][:maxnames]

    def connect_num_of_defined_networks(self) -> int:
        return len(self.node.list_all(1))

    def connect_list_defined_networks(self, maxnames: int) -> list[str]:
        return [n.name for n in self.node.list_all(1)][:maxnames]

    def connect_list_all_networks(self, flags: int = 0) -> list[NetworkIdent]:
        _check_flags(flags, 0x3F, "networkConnectListAllNetworks")
        return self.node.list_all(flags)

    def network_lookup_by_uuid(self, uuid: str) -> NetworkIdent:
        with self.node.lock:
            return self.node.get_by_uuid(uuid).ident

    def network_lookup_by_name(self, name: str) -> NetworkIdent:
        with self.node.lock:
            return self.node.get(name).ident

    # ------------------------------------------------------------ life cycle

    def network_create_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        _check_flags(flags, 1, "networkCreateXMLFlags")
        return self.node.create_xml(xml)

    def network_define_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        _check_flags(flags, 1, "networkDefineXMLFlags")
        return self.node.define(xml)

    def network_undefine(self, net: NetworkIdent) -> None:
        self.node.undefine(net)

    def network_create(self, net: NetworkIdent) -> None:
        self.node.start(net)

    def network_destroy(self, net: NetworkIdent) -> None:
        self.node.destroy(net)

    def network_update(
        self, net: NetworkIdent, command: int, section: int, parent_index: int, xml: str,
        flags: int = 0,
    ) -> None:
        _check_flags(flags, 3, "networkUpdate")
        self.node.update(net, command, section, parent_index, xml, flags)

    # ------------------------------------------------------------ queries

    def network_get_xml_desc(self, net: NetworkIdent, flags: int = 0) -> str:
        _check_flags(flags, 1, "networkGetXMLDesc")
        return self.node.xml_desc(net, flags)

    def network_get_bridge_name(self, net: NetworkIdent) -> str:
        return self.node.bridge_name(net)

    def network_get_autostart(self, net: NetworkIdent) -> bool:
        return self.node.get_autostart(net)

    def network_set_autostart(self, net: NetworkIdent, autostart: bool) -> None:
        self.node.set_autostart(net, autostart)

    def network_is_active(self, net: NetworkIdent) -> bool:
        return self.node.is_active(net)

    def network_is_persistent(self, net: NetworkIdent) -> bool:
        return self.node.is_persistent(net)

    def network_get_dhcp_leases(
        self, net: NetworkIdent, mac: str | None = None, flags: int = 0
    ) -> list[NetworkDHCPLease]:
        _check_flags(flags, 0, "networkGetDHCPLeases")
        return self.node.dhcp_leases(net, mac)

    # ------------------------------------------------------------ ports

    def network_list_all_ports(
        self, network: NetworkIdent, flags: int = 0
    ) -> list[NetworkPortIdent]:
        _check_flags(flags, 0, "networkListAllPorts")
        return self.node.port_list(network)

    def network_port_lookup_by_uuid(self, network: NetworkIdent, uuid: str) -> NetworkPortIdent:
        return self.node.port_lookup(network, uuid)

    def network_port_create_xml(
        self, network: NetworkIdent, xml: str, flags: int = 0
    ) -> NetworkPortIdent:
        _check_flags(flags, 3, "networkPortCreateXML")  # RECLAIM | VALIDATE
        return self.node.port_create(network, xml, flags)

    def network_port_get_xml_desc(self, port: NetworkPortIdent, flags: int = 0) -> str:
        _check_flags(flags, 0, "networkPortGetXMLDesc")
        return self.node.port_xml(port)

    def network_port_delete(self, port: NetworkPortIdent, flags: int = 0) -> None:
        _check_flags(flags, 0, "networkPortDelete")
        self.node.port_delete(port)

    def network_port_get_parameters(self, port: NetworkPortIdent, flags: int = 0) -> TypedParams:
        _check_flags(flags, 0, "networkPortGetParameters")
        return self.node.port_parameters(port)

    def network_port_set_parameters(
        self, port: NetworkPortIdent, params: TypedParams, flags: int = 0
    ) -> None:
        _check_flags(flags, 0, "networkPortSetParameters")
        self.node.port_set_parameters(port, params)

    # ------------------------------------------------------------ events

    def connect_network_event_register_any(
        self, net: NetworkIdent | None, event_id: int, callback: NetworkEventCallback
    ) -> int:
        if event_id != 0:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"unsupported event ID {event_id}")
        return self.node.events.register("network", event_id, net.uuid if net else None,
                                         callback, self)

    def connect_network_event_deregister_any(self, callback_id: int) -> None:
        self.node.events.deregister(callback_id, self)
