"""The Network handle: a virtual network's identity plus its connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import NetworkDHCPLease, NetworkIdent

if TYPE_CHECKING:
    pass

__all__ = ["Network"]

_N = ErrorDomain.NETWORK


class Network(Handle[NetworkIdent]):
    """A virtual network (virNetworkPtr)."""

    __slots__ = ()

    @property
    def uuid(self) -> str:
        """The network's UUID."""
        return self._ident.uuid

    def __repr__(self) -> str:
        return f"<Network {self._ident.name!r} uuid={self._ident.uuid}>"

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
