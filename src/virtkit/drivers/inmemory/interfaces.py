"""Host interfaces of the test node (libvirt's testInterface* calls).

Definitions are kept formatted (``HostObj.xml``); defining parses the XML
with :func:`virtkit.conf.interface.parse_interface`, as libvirt parses it.
A change transaction (``interface_change_begin``) keeps a copy of the
interface list, which ``rollback`` puts back with every interface inactive,
as libvirt's copy (made by re-defining each interface) leaves them.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from virtkit.constants import ConnectListAllInterfacesFlags, InterfaceDefineFlags
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.node import HostObj, TestNode
from virtkit.errors import ErrorCode
from virtkit.types import InterfaceIdent

__all__ = ["InterfaceMixin"]

_LIST_INACTIVE = int(ConnectListAllInterfacesFlags.INACTIVE)
_LIST_ACTIVE = int(ConnectListAllInterfacesFlags.ACTIVE)
_DEFINE_VALIDATE = int(InterfaceDefineFlags.VALIDATE)

# node -> the interfaces as they were at interface_change_begin (one transaction per node)
_BACKUPS: WeakKeyDictionary[TestNode, dict[str, HostObj]] = WeakKeyDictionary()


class InterfaceMixin(Base):
    """virInterfaceDriver for the test node."""

    def _iface(self, name: str) -> HostObj:
        """testInterfaceObjFindByName."""
        obj = self._node.interfaces.get(name)
        if obj is None:
            raise err(ErrorCode.NO_INTERFACE, f"no interface with matching name '{name}'")
        return obj

    def connect_list_all_interfaces(self, flags: int = 0) -> list[InterfaceIdent]:
        check_flags(flags, _LIST_INACTIVE | _LIST_ACTIVE, "testConnectListAllInterfaces")
        with self._node.lock:
            out = []
            for i in self._node.interfaces.values():
                if flags and not ((flags & _LIST_ACTIVE and i.active)
                                  or (flags & _LIST_INACTIVE and not i.active)):
                    continue
                out.append(InterfaceIdent(i.name, i.mac))
            return out

    def connect_num_of_interfaces(self) -> int:
        with self._node.lock:
            return sum(1 for i in self._node.interfaces.values() if i.active)

    def connect_num_of_defined_interfaces(self) -> int:
        with self._node.lock:
            return sum(1 for i in self._node.interfaces.values() if not i.active)

    def connect_list_interfaces(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [i.name for i in self._node.interfaces.values() if i.active][:maxnames]

    def connect_list_defined_interfaces(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [i.name for i in self._node.interfaces.values() if not i.active][:maxnames]

    def interface_lookup_by_name(self, name: str) -> InterfaceIdent:
        with self._node.lock:
            i = self._iface(name)
            return InterfaceIdent(i.name, i.mac)

    def interface_lookup_by_mac_string(self, mac: str) -> InterfaceIdent:
        wanted = mac.lower()
        with self._node.lock:
            found = [i for i in self._node.interfaces.values() if i.mac and i.mac.lower() == wanted]
        if not found:
            raise err(ErrorCode.NO_INTERFACE, f"no interface with matching mac '{mac}'")
        if len(found) > 1:
            raise err(ErrorCode.MULTIPLE_INTERFACES, None)
        # libvirt's handle carries the MAC string the caller gave
        return InterfaceIdent(found[0].name, mac)

    def interface_get_xml_desc(self, iface: InterfaceIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testInterfaceGetXMLDesc")
        with self._node.lock:
            return self._iface(iface.name).xml

    def interface_is_active(self, iface: InterfaceIdent) -> bool:
        with self._node.lock:
            return self._iface(iface.name).active

    def interface_define_xml(self, xml: str, flags: int = 0) -> InterfaceIdent:
        check_flags(flags, _DEFINE_VALIDATE, "testInterfaceDefineXML")
        from virtkit.conf.interface import parse_interface

        d = parse_interface(xml)
        name, mac = d.name or "", d.mac_address or ""
        with self._node.lock:
            obj = self._node.interfaces.get(name)
            if obj is None:
                self._node.interfaces[name] = HostObj(name, d.to_xml(), mac, active=False)
            else:  # a new definition for an existing interface keeps its state
                obj.xml, obj.mac = d.to_xml(), mac
        return InterfaceIdent(name, mac)

    def interface_undefine(self, iface: InterfaceIdent) -> None:
        with self._node.lock:
            self._iface(iface.name)
            del self._node.interfaces[iface.name]

    def interface_create(self, iface: InterfaceIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testInterfaceCreate")
        with self._node.lock:
            obj = self._iface(iface.name)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID, None)
            obj.active = True

    def interface_destroy(self, iface: InterfaceIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testInterfaceDestroy")
        with self._node.lock:
            obj = self._iface(iface.name)
            if not obj.active:
                raise err(ErrorCode.OPERATION_INVALID, None)
            obj.active = False

    def interface_change_begin(self, flags: int = 0) -> None:
        check_flags(flags, 0, "testInterfaceChangeBegin")
        with self._node.lock:
            if self._node in _BACKUPS:
                raise err(ErrorCode.OPERATION_INVALID, "there is another transaction running.")
            _BACKUPS[self._node] = {
                n: HostObj(i.name, i.xml, i.mac, active=False)
                for n, i in self._node.interfaces.items()
            }

    def interface_change_commit(self, flags: int = 0) -> None:
        check_flags(flags, 0, "testInterfaceChangeCommit")
        with self._node.lock:
            if _BACKUPS.pop(self._node, None) is None:
                raise err(ErrorCode.OPERATION_INVALID,
                          "no transaction running, nothing to be committed.")

    def interface_change_rollback(self, flags: int = 0) -> None:
        check_flags(flags, 0, "testInterfaceChangeRollback")
        with self._node.lock:
            backup = _BACKUPS.pop(self._node, None)
            if backup is None:
                raise err(ErrorCode.OPERATION_INVALID,
                          "no transaction running, nothing to rollback.")
            self._node.interfaces.clear()
            self._node.interfaces.update(backup)
