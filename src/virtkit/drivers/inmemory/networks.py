"""Virtual networks of the test driver (all in memory)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.constants import ConnectListAllNetworksFlags, NetworkDefineFlags, NetworkUpdateFlags
from virtkit.drivers.base import NetworkEventCallback
from virtkit.drivers.domainobj import pair_ok
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import NetworkObj
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import NetworkIdent

if TYPE_CHECKING:
    from virtkit.conf import network as netconf
    from virtkit.conf import network_update as netupdate
    from virtkit.conf.network import NetworkDef
else:
    netconf = lazy_module("virtkit.conf.network")
    netupdate = lazy_module("virtkit.conf.network_update")

NET_DEFINED, NET_UNDEFINED, NET_STARTED, NET_STOPPED = range(4)
_N = ConnectListAllNetworksFlags
_INACTIVE, _ACTIVE = int(_N.INACTIVE), int(_N.ACTIVE)
_PERSISTENT, _TRANSIENT = int(_N.PERSISTENT), int(_N.TRANSIENT)
_AUTOSTART, _NO_AUTOSTART = int(_N.AUTOSTART), int(_N.NO_AUTOSTART)
_FILTERS_ALL = _INACTIVE | _ACTIVE | _PERSISTENT | _TRANSIENT | _AUTOSTART | _NO_AUTOSTART
_UPDATE_LIVE = int(NetworkUpdateFlags.LIVE)
_UPDATE_CONFIG = int(NetworkUpdateFlags.CONFIG)
_VALIDATE = int(NetworkDefineFlags.VALIDATE)  # NetworkCreateFlags.VALIDATE too


def parse_network(xml: str) -> NetworkDef:
    d = netconf.NetworkDef.from_xml(xml)
    netconf.validate_network_def(d)
    return d


def _copy_def(d: NetworkDef) -> NetworkDef:
    """virNetworkDefCopy: a deep copy, the definition's fields otherwise unchanged."""
    return d.copy()


def _updated(d: NetworkDef, command: int, section: int, parent_index: int,
             xml: str) -> NetworkDef:
    """A copy of ``d`` with the update applied, then checked as libvirt's parser would."""
    new = _copy_def(d)
    netupdate.apply_update(new, command, section, parent_index, xml)
    # libvirt's final format/parse cycle: nothing illegal may have been added.
    parse_network(new.to_xml())
    return new


def network_matches(obj: NetworkObj, flags: int) -> bool:
    """virNetworkObjListFilter (INACTIVE/ACTIVE, PERSISTENT/TRANSIENT, AUTOSTART)."""
    return (
        pair_ok(flags, _ACTIVE, _INACTIVE, obj.active)
        and pair_ok(flags, _PERSISTENT, _TRANSIENT, obj.persistent)
        and pair_ok(flags, _AUTOSTART, _NO_AUTOSTART, obj.autostart)
    )


class NetworkMixin(Base):
    """virNetworkDriver for the test node."""

    def _net(self, name: str) -> NetworkObj:
        obj = self._node.networks.get(name)
        if obj is None:
            raise err(ErrorCode.NO_NETWORK, f"no network with matching name '{name}'")
        return obj

    def _net_by_uuid(self, uuid: str) -> NetworkObj:
        for obj in self._node.networks.values():
            if obj.uuid == uuid:
                return obj
        raise err(ErrorCode.NO_NETWORK, f"no network with matching uuid '{uuid}'")

    def _net_event(self, obj: NetworkObj, event: int) -> None:
        self._node.events.queue("network", obj.ident, 0, (event, 0))

    def connect_num_of_networks(self) -> int:
        with self._node.lock:
            return sum(1 for n in self._node.networks.values() if n.active)

    def connect_list_networks(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [n.name for n in self._node.networks.values() if n.active][:maxnames]

    def connect_num_of_defined_networks(self) -> int:
        with self._node.lock:
            return sum(1 for n in self._node.networks.values() if not n.active)

    def connect_list_defined_networks(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [n.name for n in self._node.networks.values() if not n.active][:maxnames]

    def connect_list_all_networks(self, flags: int = 0) -> list[NetworkIdent]:
        check_flags(flags, _FILTERS_ALL, "testConnectListAllNetworks")
        with self._node.lock:
            return [n.ident for n in self._node.networks.values() if network_matches(n, flags)]

    def network_lookup_by_uuid(self, uuid: str) -> NetworkIdent:
        with self._node.lock:
            return self._net_by_uuid(uuid.lower()).ident

    def network_lookup_by_name(self, name: str) -> NetworkIdent:
        with self._node.lock:
            return self._net(name).ident

    def _assign(self, d: NetworkDef, live: bool) -> NetworkObj:
        """virNetworkObjAssignDef."""
        nets = self._node.networks
        name, uuid = d.name or "", d.uuid or ""
        obj = nets.get(name)
        if obj is not None:
            if obj.uuid != uuid:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"network '{name}' already exists with uuid {obj.uuid}",
                          ErrorDomain.NETWORK)
            if live:
                if obj.active:
                    raise err(ErrorCode.OPERATION_INVALID,
                              f"network is already active as '{name}'", ErrorDomain.NETWORK)
                if obj.persistent and obj.new_def is None:
                    obj.new_def = obj.defn
                obj.defn = d
            elif obj.active:
                obj.new_def = d
            else:
                obj.defn, obj.new_def = d, None
            return obj
        for other in nets.values():
            if other.uuid == uuid:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"network '{other.name}' is already defined with uuid {uuid}",
                          ErrorDomain.NETWORK)
        obj = NetworkObj(d, name, uuid)
        nets[name] = obj
        return obj

    def network_create_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        check_flags(flags, _VALIDATE, "testNetworkCreateXMLFlags")
        d = parse_network(xml)
        with self._txn():
            obj = self._assign(d, live=True)
            obj.active = True
            self._net_event(obj, NET_STARTED)
            return obj.ident

    def network_define_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        check_flags(flags, _VALIDATE, "testNetworkDefineXMLFlags")
        d = parse_network(xml)
        with self._txn():
            obj = self._assign(d, live=False)
            obj.persistent = True
            self._net_event(obj, NET_DEFINED)
            return obj.ident

    def network_undefine(self, net: NetworkIdent) -> None:
        with self._txn() as node:
            obj = self._net(net.name)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID, f"Network '{net.name}' is still running")
            self._net_event(obj, NET_UNDEFINED)
            del node.networks[obj.name]

    def network_update(
        self, net: NetworkIdent, command: int, section: int, parent_index: int, xml: str,
        flags: int = 0,
    ) -> None:
        """testNetworkUpdate / virNetworkObjUpdate: change the live and/or persistent def.

        Like libvirt's test driver it emits no event.
        """
        check_flags(flags, _UPDATE_LIVE | _UPDATE_CONFIG, "testNetworkUpdate")
        with self._node.lock:
            obj = self._net_by_uuid(net.uuid)
            if not flags & (_UPDATE_LIVE | _UPDATE_CONFIG):
                flags |= _UPDATE_LIVE if obj.active else _UPDATE_CONFIG
            # virNetworkObjConfigChangeSetup
            if flags & _UPDATE_LIVE and not obj.active:
                raise err(ErrorCode.OPERATION_INVALID, "network is not running",
                          ErrorDomain.NETWORK)
            if flags & _UPDATE_CONFIG:
                if not obj.persistent:
                    raise err(ErrorCode.OPERATION_INVALID,
                              "cannot change persistent config of a transient network",
                              ErrorDomain.NETWORK)
                if obj.active and obj.new_def is None:
                    obj.new_def = _copy_def(obj.defn)
            live = config = None
            if flags & _UPDATE_LIVE:
                live = _updated(obj.defn, command, section, parent_index, xml)
            if flags & _UPDATE_CONFIG:
                persistent = obj.new_def if obj.new_def is not None else obj.defn
                config = _updated(persistent, command, section, parent_index, xml)
            # virNetworkObjReplacePersistentDef, then the live def.
            if config is not None:
                if obj.active:
                    obj.new_def = config
                else:
                    obj.defn = config
            if live is not None:
                obj.defn = live

    def network_create(self, net: NetworkIdent) -> None:
        with self._txn():
            obj = self._net(net.name)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID, f"Network '{net.name}' is already running")
            obj.active = True
            self._net_event(obj, NET_STARTED)

    def network_destroy(self, net: NetworkIdent) -> None:
        with self._txn() as node:
            obj = self._net(net.name)
            # As libvirt 9.0's testNetworkDestroy: a definition saved while the network ran
            # (new_def) is not made current; the next inactive define replaces both.
            obj.active = False
            self._net_event(obj, NET_STOPPED)
            if not obj.persistent:
                del node.networks[obj.name]

    def network_get_xml_desc(self, net: NetworkIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testNetworkGetXMLDesc")
        with self._node.lock:
            return str(self._net(net.name).defn.to_xml())

    def network_get_bridge_name(self, net: NetworkIdent) -> str:
        with self._node.lock:
            obj = self._net(net.name)
            bridge = obj.defn.bridge_name
            if not bridge:
                raise err(ErrorCode.INTERNAL_ERROR,
                          f"network '{obj.name}' does not have a bridge name.")
            return str(bridge)

    def network_get_autostart(self, net: NetworkIdent) -> bool:
        with self._node.lock:
            return self._net(net.name).autostart

    def network_set_autostart(self, net: NetworkIdent, autostart: bool) -> None:
        with self._node.lock:
            self._net(net.name).autostart = bool(autostart)

    def network_is_active(self, net: NetworkIdent) -> bool:
        with self._node.lock:
            return self._net_by_uuid(net.uuid).active

    def network_is_persistent(self, net: NetworkIdent) -> bool:
        with self._node.lock:
            return self._net_by_uuid(net.uuid).persistent

    def connect_network_event_register_any(
        self, net: NetworkIdent | None, event_id: int, callback: NetworkEventCallback
    ) -> int:
        if event_id != 0:
            raise err(ErrorCode.INVALID_ARG, f"unsupported event ID {event_id}", ErrorDomain.NONE)
        return self._node.events.register(
            "network", event_id, net.uuid if net else None, callback, self
        )

    def connect_network_event_deregister_any(self, callback_id: int) -> None:
        self._node.events.deregister(callback_id, self)
