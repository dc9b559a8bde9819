"""Network filters: the NWFilter and NWFilterBinding handles, and the Connection calls
that make them (``NWFilterObjectsMixin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import NWFilterBindingIdent, NWFilterIdent

if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.drivers.base import DriverTables

__all__ = ["NWFilter", "NWFilterBinding", "NWFilterObjectsMixin"]

_F = ErrorDomain.NWFILTER


class NWFilter(Handle[NWFilterIdent]):
    """A network filter (virNWFilterPtr)."""

    __slots__ = ()

    @property
    def uuid(self) -> str:
        """The filter's UUID."""
        return self._ident.uuid

    def __repr__(self) -> str:
        return f"<NWFilter {self._ident.name!r} uuid={self._ident.uuid}>"

    def xml(self, flags: int = 0) -> str:
        """virNWFilterGetXMLDesc."""
        return self._conn.tables.nwfilter.nwfilter_get_xml_desc(self._ident, flags)

    def undefine(self) -> None:
        """virNWFilterUndefine."""
        self._conn._check_write("virNWFilterUndefine", _F)
        self._conn.tables.nwfilter.nwfilter_undefine(self._ident)


class NWFilterBinding(Handle[NWFilterBindingIdent]):
    """A filter bound to a port (virNWFilterBindingPtr); equal handles share the port."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The port device's name (a binding has no name of its own)."""
        return self._ident.portdev

    @property
    def port_dev(self) -> str:
        """virNWFilterBindingGetPortDev: the port the filter is bound to."""
        return self._ident.portdev

    @property
    def filter_name(self) -> str:
        """virNWFilterBindingGetFilterName: the bound filter's name."""
        return self._ident.filtername

    def _key(self) -> Any:
        return self._ident.portdev

    def __repr__(self) -> str:
        return f"<NWFilterBinding {self._ident.portdev!r} filter={self._ident.filtername!r}>"

    def xml(self, flags: int = 0) -> str:
        """virNWFilterBindingGetXMLDesc."""
        return self._conn.tables.nwfilter.nwfilter_binding_get_xml_desc(self._ident, flags)

    def delete(self) -> None:
        """virNWFilterBindingDelete."""
        self._conn._check_write("virNWFilterBindingDelete", _F)
        self._conn.tables.nwfilter.nwfilter_binding_delete(self._ident)


class NWFilterObjectsMixin:
    """The Connection's network filter calls (mixed into Connection)."""

    __slots__ = ()

    if TYPE_CHECKING:
        @property
        def tables(self) -> DriverTables: ...

        def _check_write(self, function: str, domain: int) -> None: ...

    def _me(self) -> Connection:
        return self  # type: ignore[return-value]

    def list_nwfilters(self, flags: int = 0) -> list[NWFilter]:
        """virConnectListAllNWFilters."""
        return [NWFilter(self._me(), i)
                for i in self.tables.nwfilter.connect_list_all_nwfilters(flags)]

    def num_of_nwfilters(self) -> int:
        """virConnectNumOfNWFilters."""
        return self.tables.nwfilter.connect_num_of_nwfilters()

    def list_nwfilter_names(self) -> list[str]:
        """virConnectListNWFilters: every filter's name."""
        drv = self.tables.nwfilter
        n = drv.connect_num_of_nwfilters()
        return drv.connect_list_nwfilters(n) if n else []

    def lookup_nwfilter(self, name: str) -> NWFilter:
        """virNWFilterLookupByName (VIR_ERR_NO_NWFILTER if there is none)."""
        return NWFilter(self._me(), self.tables.nwfilter.nwfilter_lookup_by_name(name))

    def lookup_nwfilter_by_uuid(self, uuid: object) -> NWFilter:
        """virNWFilterLookupByUUIDString (str, ``uuid.UUID`` or 16 bytes)."""
        from virtkit.connection import canonical_uuid

        key = canonical_uuid(uuid, "virNWFilterLookupByUUIDString", _F)
        return NWFilter(self._me(), self.tables.nwfilter.nwfilter_lookup_by_uuid(key))

    def define_nwfilter(self, xml: str, flags: int = 0) -> NWFilter:
        """virNWFilterDefineXMLFlags (flags: NWFilterDefineFlags)."""
        self._check_write("virNWFilterDefineXMLFlags" if flags else "virNWFilterDefineXML", _F)
        return NWFilter(self._me(), self.tables.nwfilter.nwfilter_define_xml(xml, flags))

    def list_nwfilter_bindings(self, flags: int = 0) -> list[NWFilterBinding]:
        """virConnectListAllNWFilterBindings."""
        drv = self.tables.nwfilter
        return [NWFilterBinding(self._me(), i)
                for i in drv.connect_list_all_nwfilter_bindings(flags)]

    def lookup_nwfilter_binding(self, port_dev: str) -> NWFilterBinding:
        """virNWFilterBindingLookupByPortDev (VIR_ERR_NO_NWFILTER_BINDING if there is none)."""
        drv = self.tables.nwfilter
        return NWFilterBinding(self._me(), drv.nwfilter_binding_lookup_by_port_dev(port_dev))

    def create_nwfilter_binding(self, xml: str, flags: int = 0) -> NWFilterBinding:
        """virNWFilterBindingCreateXML (flags: NWFilterBindingCreateFlags)."""
        self._check_write("virNWFilterBindingCreateXML", _F)
        drv = self.tables.nwfilter
        return NWFilterBinding(self._me(), drv.nwfilter_binding_create_xml(xml, flags))
