"""The Network handle: a virtual network's identity plus its connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.errtables import ErrorDomain
from virtkit.types import NetworkDHCPLease, NetworkIdent

if TYPE_CHECKING:
    from virtkit.connection import Connection

__all__ = ["Network"]

_N = ErrorDomain.NETWORK


class Network:
    """A virtual network (virNetworkPtr)."""

    __slots__ = ("_conn", "_ident")

    def __init__(self, conn: Connection, ident: NetworkIdent) -> None:
        self._conn = conn
        self._ident = ident

    @property
    def name(self) -> str:
        """The network's name."""
        return self._ident.name

    @property
    def uuid(self) -> str:
        """The network's UUID."""
        return self._ident.uuid

    @property
    def ident(self) -> NetworkIdent:
        """The identity record the drivers take."""
        return self._ident

    @property
    def connection(self) -> Connection:
        """The connection this handle belongs to."""
        return self._conn

    def __repr__(self) -> str:
        return f"<Network {self._ident.name!r} uuid={self._ident.uuid}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return other._conn is self._conn and other._ident.uuid == self._ident.uuid

    def __hash__(self) -> int:
        return hash(self._ident.uuid)

    def xml(self, flags: int = 0) -> str:
        """virNetworkGetXMLDesc (flags: NetworkXMLFlags)."""
        return self._conn._net.network_get_xml_desc(self._ident, flags)

    def bridge_name(self) -> str:
        """virNetworkGetBridgeName."""
        return self._conn._net.network_get_bridge_name(self._ident)

    def is_active(self) -> bool:
        """virNetworkIsActive."""
        return self._conn._net.network_is_active(self._ident)

    def is_persistent(self) -> bool:
        """virNetworkIsPersistent."""
        return self._conn._net.network_is_persistent(self._ident)

    @property
    def autostart(self) -> bool:
        """Whether the network starts with the host (Get/SetAutostart)."""
        return self._conn._net.network_get_autostart(self._ident)

    @autostart.setter
    def autostart(self, value: bool) -> None:
        self._conn._check_write("virNetworkSetAutostart", _N)
        self._conn._net.network_set_autostart(self._ident, bool(value))

    def start(self) -> None:
        """virNetworkCreate."""
        self._conn._check_write("virNetworkCreate", _N)
        self._conn._net.network_create(self._ident)

    def destroy(self) -> None:
        """virNetworkDestroy."""
        self._conn._check_write("virNetworkDestroy", _N)
        self._conn._net.network_destroy(self._ident)

    def undefine(self) -> None:
        """virNetworkUndefine."""
        self._conn._check_write("virNetworkUndefine", _N)
        self._conn._net.network_undefine(self._ident)

    def update(self, command: int, section: int, index: int, xml: str, flags: int = 0) -> None:
        """virNetworkUpdate (NetworkUpdateCommand, NetworkUpdateSection, NetworkUpdateFlags)."""
        self._conn._check_write("virNetworkUpdate", _N)
        self._conn._net.network_update(self._ident, command, section, index, xml, flags)

    def dhcp_leases(self, mac: str | None = None) -> list[NetworkDHCPLease]:
        """virNetworkGetDHCPLeases, optionally for one MAC address."""
        return self._conn._net.network_get_dhcp_leases(self._ident, mac, 0)
