"""The NetworkPort handle (virNetworkPortPtr) and the port calls made on a network.

``Network`` does not carry port methods yet; use the functions here::

    port = create_port(net, xml)
    for p in list_ports(net): print(p.uuid)
"""

from __future__ import annotations

from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.handles.network import Network
from virtkit.types import NetworkPortIdent, TypedParams

__all__ = ["NetworkPort", "create_port", "list_ports", "lookup_port"]

_N = ErrorDomain.NETWORK


class NetworkPort(Handle[NetworkPortIdent]):
    """A port of a virtual network (one guest interface's connection)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """Ports have no name: their UUID."""
        return self._ident.uuid

    @property
    def uuid(self) -> str:
        """The port's UUID."""
        return self._ident.uuid

    @property
    def network(self) -> Network:
        """The network the port belongs to."""
        return Network(self._conn, self._ident.network)

    def __repr__(self) -> str:
        return f"<NetworkPort {self._ident.uuid} of {self._ident.network.name!r}>"

    def xml(self, flags: int = 0) -> str:
        """virNetworkPortGetXMLDesc."""
        return self._conn._net.network_port_get_xml_desc(self._ident, flags)

    def delete(self, flags: int = 0) -> None:
        """virNetworkPortDelete."""
        self._conn._check_write("virNetworkPortDelete", _N)
        self._conn._net.network_port_delete(self._ident, flags)

    def parameters(self, flags: int = 0) -> TypedParams:
        """virNetworkPortGetParameters (bandwidth: ``inbound.average`` ...)."""
        return self._conn._net.network_port_get_parameters(self._ident, flags)

    def set_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virNetworkPortSetParameters."""
        self._conn._check_write("virNetworkPortSetParameters", _N)
        self._conn._net.network_port_set_parameters(self._ident, params, flags)


def create_port(net: Network, xml: str, flags: int = 0) -> NetworkPort:
    """virNetworkPortCreateXML (flags: NetworkPortCreateFlags)."""
    conn = net.connection
    conn._check_write("virNetworkPortCreateXML", _N)
    return NetworkPort(conn, conn._net.network_port_create_xml(net.ident, xml, flags))


def list_ports(net: Network, flags: int = 0) -> list[NetworkPort]:
    """virNetworkListAllPorts."""
    conn = net.connection
    return [NetworkPort(conn, i) for i in conn._net.network_list_all_ports(net.ident, flags)]


def lookup_port(net: Network, uuid: object) -> NetworkPort:
    """virNetworkPortLookupByUUIDString (a string, ``uuid.UUID`` or 16 bytes)."""
    from virtkit.connection import canonical_uuid

    key = canonical_uuid(uuid, "virNetworkPortLookupByUUIDString", _N)
    conn = net.connection
    return NetworkPort(conn, conn._net.network_port_lookup_by_uuid(net.ident, key))
