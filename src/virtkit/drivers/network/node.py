"""The network driver's node: virtual networks on real bridges, dnsmasq and nftables.

One :class:`NetworkNode` exists per root in a process (:func:`node_for`), shared by
every connection to it. It keeps persistent definitions (``ConfigStore``) and live
status files, starts and stops networks, and on creation takes back the networks a
previous instance left running: a network stays up when the process that started it
exits. A network whose bridge disappeared meanwhile is reported inactive (what is left
of it is cleaned up); a dnsmasq that died is started again, as libvirt does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import re
import time

from virtkit.conf import network_update as update
from virtkit.conf.common import parse_uuid
from virtkit.conf.network import ForwardNat, Mac, NatRange, NetworkDef, validate_network_def
from virtkit.conf.networkport import NetworkPortDef, PortPlug, RxFilters
from virtkit.drivers.network import bridge as br
from virtkit.drivers.network import dnsmasq, firewall
from virtkit.drivers.network.paths import NetworkPaths
from virtkit.drivers.network.ports import PortFiles
from virtkit.drivers.network.state import NetworkStatus, StatusFiles
from virtkit.drivers.noderegistry import NodeRegistry
from virtkit.drivers.objnode import NodeObject, ObjectNode
from virtkit.drivers.persist import ConfigStore, check_name
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import NetworkDHCPLease, NetworkIdent, NetworkPortIdent, TypedParams

__all__ = ["NetObj", "NetworkNode", "node_for"]

log = logging.getLogger("virtkit.drivers.network")

_NET = ErrorDomain.NETWORK
EV_DEFINED, EV_UNDEFINED, EV_STARTED, EV_STOPPED = range(4)
SUPPORTED_MODES = (None, "nat", "route", "open", "bridge")
MAX_BRIDGE_ID = 256
_XML_INACTIVE = 1
_UPDATE_LIVE, _UPDATE_CONFIG = 1, 2
_IFNAME_BAD = re.compile(r"[/:\s]")
_PORT_RECLAIM = 1  # VIR_NETWORK_PORT_CREATE_RECLAIM
# virNetworkPort{Get,Set}Parameters names -> (element, attribute) of the port's <bandwidth>
_BANDWIDTH_PARAMS = (
    ("inbound.average", "inbound", "average"), ("inbound.peak", "inbound", "peak"),
    ("inbound.floor", "inbound", "floor"), ("inbound.burst", "inbound", "burst"),
    ("outbound.average", "outbound", "average"), ("outbound.peak", "outbound", "peak"),
    ("outbound.burst", "outbound", "burst"),
)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _NET, detail)


def _unsupported(what: str, name: str) -> VirtError:
    return _err(ErrorCode.CONFIG_UNSUPPORTED,
                f"{what} is not supported by virtkit's network driver (network '{name}')")


class NetObj(NodeObject[NetworkDef]):
    """One network: its persistent definition, and while active its live one."""

    def __init__(self, name: str, uuid: str) -> None:
        super().__init__(name, uuid)
        self.status: NetworkStatus | None = None
        # uuid -> port, while active (persisted under STATUS_DIR/NAME/ports)
        self.ports: dict[str, NetworkPortDef] = {}

    @property
    def ident(self) -> NetworkIdent:
        return NetworkIdent(self.name, self.uuid)


def parse_network(xml: str) -> NetworkDef:
    d = NetworkDef.from_xml(xml)
    validate_network_def(d)
    check_name(d.name or "", _NET)
    if "\n" in (d.name or ""):
        raise _err(ErrorCode.XML_DETAIL, "invalid char in name: \n")
    return d


def check_supported(d: NetworkDef) -> None:
    """libvirt's networkValidate checks, and what virtkit cannot do (refused by element)."""
    name, mode = d.name or "", d.forward_mode
    if mode not in SUPPORTED_MODES:
        raise _unsupported(f"<forward mode='{mode}'>", name)
    if mode == "bridge":
        for present, what in ((d.mac is not None, "mac"), (bool(d.ips), "ip"),
                              (d.dns is not None and bool(d.dns.txts or d.dns.hosts
                                                          or d.dns.srvs), "dns"),
                              (d.domain is not None, "domain")):
            if present:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"Unsupported <{what}> element in network {name} "
                           f"with forward mode='{mode}'")
        if not d.bridge_name:
            raise _unsupported("<forward mode='bridge'> without <bridge name=...>", name)
        if d.forward is not None and (d.forward.interfaces or d.forward.pfs):
            raise _unsupported("<forward mode='bridge'> with a forward dev (macvtap)", name)
    if d.bandwidth is not None:
        raise _unsupported("<bandwidth>", name)
    if d.virtualport is not None:
        raise _unsupported("<virtualport>", name)
    if d.vlan is not None:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"<vlan> element specified for network {name}, "
                   "whose type doesn't support vlan configuration")
    if d.bridge is not None:
        if d.bridge.zone:
            raise _unsupported("<bridge zone=...> (firewalld)", name)
        if d.bridge.macTableManager == "libvirt":
            raise _unsupported("<bridge macTableManager='libvirt'>", name)
        bname = d.bridge.name
        if bname and "%d" not in bname and (
                _IFNAME_BAD.search(bname) or bname in (".", "..") or len(bname.encode()) >= 16):
            raise _err(ErrorCode.XML_ERROR, f"bridge name '{bname}' is not a valid interface name")
    seen: set[str] = set()
    default = None
    for pg in d.portgroups:
        for what in ("bandwidth", "vlan", "virtualport"):
            if getattr(pg, what) is not None:
                raise _unsupported(f"<portgroup name='{pg.name}'><{what}>", name)
        if pg.name in seen:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"multiple <portgroup> elements with the same name ({pg.name}) "
                       f"in network '{name}'")
        seen.add(pg.name or "")
        if pg.default == "yes":
            if default is not None:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"network '{name}' has multiple default <portgroup> elements "
                           f"({default} and {pg.name}), but only one default is allowed")
            default = pg.name
    for fam in (4, 6):
        with_dhcp = [ip for ip in d.ips if dnsmasq.ip_interface(ip).version == fam
                     and ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts)]
        if len(with_dhcp) > 1:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"Multiple IPv{fam} dhcp sections found -- dhcp is supported only "
                       f"for a single IPv{fam} address on each network")
    for ip in d.ips:
        try:
            dnsmasq.ip_interface(ip)
        except ValueError:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid IP address '{ip.address}' in network '{name}'") from None


def _random_mac() -> str:
    return "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


class NetworkNode(ObjectNode[NetObj]):
    """Every network under one root, shared by the connections to it."""

    kind = "network"
    error_domain = _NET
    not_found_code = ErrorCode.NO_NETWORK

    def __init__(self, paths: NetworkPaths, *, autostart: bool = False) -> None:
        paths.ensure()
        super().__init__(ConfigStore(paths.config_dir, paths.autostart_dir), log)
        self.paths = paths
        self.statuses = StatusFiles(paths.status_dir)
        with self.lock:
            self.load_configs()
            statuses = self.statuses.load_all()
            for status in statuses:
                self._reattach(status, statuses)
        if autostart:
            self.autostart_all()

    # ------------------------------------------------------------ helpers

    def _event(self, obj: NetObj, event: int) -> None:
        self.events.queue("network", obj.ident, 0, (event, 0))

    def files(self, name: str) -> dnsmasq.DnsmasqFiles:
        p = self.paths
        return dnsmasq.DnsmasqFiles(p.dnsmasq_file(name, "conf"), p.dnsmasq_file(name, "hostsfile"),
                                    p.dnsmasq_file(name, "addnhosts"),
                                    p.dnsmasq_file(name, "leases"), p.pid_file(name))

    # ------------------------------------------------------------ loading and re-attaching

    def object_from_config(self, name: str, xml: str) -> NetObj:
        d = parse_network(xml)
        obj = NetObj(d.name or name, d.uuid or "")
        obj.config = d
        return obj

    def start_object(self, obj: NetObj) -> None:
        self.start(obj.ident)

    def _reattach(self, st: NetworkStatus, statuses: list[NetworkStatus]) -> None:
        try:
            live = NetworkDef.from_xml(st.network_xml)
        except VirtError as exc:
            log.error("status of network %s unreadable: %s", st.name, exc)
            return
        obj = self.by_name.get(st.name)
        if obj is None:
            obj = NetObj(st.name, live.uuid or "")
            self.by_name[obj.name] = obj
        obj.live, obj.status = live, st
        if st.starting:
            self._undo_interrupted_start(obj, st, statuses)
            return
        if st.bridge_created and st.bridge and not br.link_exists(st.bridge):
            log.warning("network %s: bridge %s disappeared; the network is inactive",
                        st.name, st.bridge)
            self._teardown(obj)
            return
        files = self.files(obj.name)
        if (dnsmasq.needs_dnsmasq(live) and st.bridge_created
                and dnsmasq.dnsmasq_pid(files, st.dnsmasq_pid) is None):
            log.warning("network %s: dnsmasq (pid %s) is gone; starting it again",
                        st.name, st.dnsmasq_pid)
            try:
                st.dnsmasq_pid = dnsmasq.start(live, files)
            except VirtError as exc:
                log.error("network %s: cannot restart dnsmasq: %s", st.name, exc)
                st.dnsmasq_pid = None
        obj.ports = {p.uuid or "": p for p in self._port_files(obj).load_all()}
        if st.firewall and st.bridge and not firewall.list_rules(st.bridge):
            try:
                firewall.add_rules(live)
            except VirtError as exc:
                log.error("network %s: cannot reinstall firewall rules: %s", st.name, exc)
        with contextlib.suppress(VirtError):
            self.statuses.save(st)

    def _undo_interrupted_start(self, obj: NetObj, st: NetworkStatus,
                                statuses: list[NetworkStatus]) -> None:
        """A start killed half-way: remove what it made; the network is inactive.

        The intent was recorded after checking that the bridge did not exist, so a bridge
        of that name that no other status names is the one the start made."""
        log.warning("network %s: its start was interrupted; removing what it made", st.name)
        named = any(o.bridge == st.bridge and o.name != st.name for o in statuses)
        if st.bridge and not st.bridge_created and not named and br.link_exists(st.bridge):
            st.bridge_created = True
        self._teardown(obj)

    # ------------------------------------------------------------ definitions

    def _bridge_in_use(self, bridge: str, skip: str) -> bool:
        for other in self.by_name.values():
            if other.name == skip:
                continue
            for d in (other.config, other.live):
                if d is not None and d.bridge_name == bridge:
                    return True
        return False

    def _assign_bridge(self, d: NetworkDef) -> None:
        """libvirt's networkBridgeNameValidate and virNetworkSetBridgeMacAddr."""
        if not d.has_bridge():
            return
        assert d.bridge is not None
        name = d.name or ""
        bname = d.bridge.name
        if bname and "%d" not in bname:
            if self._bridge_in_use(bname, name):
                raise _err(ErrorCode.INTERNAL_ERROR, f"bridge name '{bname}' already in use.")
        else:
            old = self.by_name.get(name)
            prev = next((x.bridge_name for x in (old.live, old.config) if x is not None),
                        None) if old is not None and not bname else None
            if prev and "%d" not in prev:
                d.bridge.name = prev
            else:
                templ = bname if bname and bname.count("%d") == 1 else "virbr%d"
                for i in range(MAX_BRIDGE_ID + 1):
                    cand = templ.replace("%d", str(i))
                    if not self._bridge_in_use(cand, name) and not br.link_exists(cand):
                        d.bridge.name = cand
                        break
                else:
                    raise _err(ErrorCode.INTERNAL_ERROR,
                               f"Bridge generation exceeded max id {MAX_BRIDGE_ID}")
        if d.mac is None or not d.mac.address:
            d.mac = Mac()
            old = self.by_name.get(name)
            prev_mac = next((x.mac.address for x in (old.live, old.config)
                             if x is not None and x.mac is not None), None) if old else None
            d.mac.address = prev_mac or _random_mac()

    def _prepare(self, xml: str) -> NetworkDef:
        d = parse_network(xml)
        check_supported(d)
        self._assign_bridge(d)
        return d

    def _assign(self, d: NetworkDef, live: bool) -> NetObj:
        """virNetworkObjAssignDef: add ``d`` or replace a definition with the same name."""
        name, uuid = d.name or "", d.uuid or ""
        obj = self.by_name.get(name)
        if obj is not None:
            if obj.uuid != uuid:
                raise _err(ErrorCode.OPERATION_FAILED,
                           f"network '{name}' already exists with uuid {obj.uuid}")
            if live and obj.active:
                raise _err(ErrorCode.OPERATION_INVALID, f"network is already active as '{name}'")
            return obj
        for other in self.by_name.values():
            if other.uuid == uuid:
                raise _err(ErrorCode.OPERATION_FAILED,
                           f"network '{other.name}' is already defined with uuid {uuid}")
        obj = NetObj(name, uuid)
        self.by_name[name] = obj
        return obj

    def list_all(self, flags: int = 0) -> list[NetworkIdent]:
        def pair(on: int, off: int, value: bool) -> bool:
            if not flags & (on | off):
                return True
            return bool((flags & on and value) or (flags & off and not value))

        with self.lock:
            return [o.ident for o in sorted(self.by_name.values(), key=lambda o: o.name)
                    if pair(2, 1, o.active) and pair(4, 8, o.persistent)
                    and pair(16, 32, o.autostart)]

    def define(self, xml: str) -> NetworkIdent:
        with self.op():
            d = self._prepare(xml)
            obj = self._assign(d, live=False)
            self.configs.save(obj.name, d.to_xml(), obj.uuid)
            obj.config = d
            self._event(obj, EV_DEFINED)
            return obj.ident

    def create_xml(self, xml: str) -> NetworkIdent:
        with self.op():
            d = self._prepare(xml)
            existed = d.name in self.by_name
            obj = self._assign(d, live=True)
            try:
                self._start(obj, d)
            except BaseException:
                if not existed:
                    del self.by_name[obj.name]
                raise
            return obj.ident

    def undefine(self, ident: NetworkIdent) -> None:
        with self.op():
            obj = self.lookup(ident)
            if not obj.persistent:
                raise _err(ErrorCode.OPERATION_INVALID, "can't undefine transient network")
            self.configs.delete(obj.name)
            obj.config = None
            obj.autostart = False
            self._event(obj, EV_UNDEFINED)
            if not obj.active:
                self._forget(obj)

    def _forget(self, obj: NetObj) -> None:
        dnsmasq.remove_files(self.files(obj.name))
        self.by_name.pop(obj.name, None)

    # ------------------------------------------------------------ start and stop

    def start(self, ident: NetworkIdent) -> None:
        with self.op():
            obj = self.lookup(ident)
            if obj.active:
                raise _err(ErrorCode.OPERATION_INVALID, "network is already active")
            assert obj.config is not None
            self._start(obj, obj.config.copy())

    def _start(self, obj: NetObj, d: NetworkDef) -> None:
        """networkStartNetwork: bring up the parts in order, undo them on failure."""
        if d.forward_mode == "nat" and d.forward is not None:
            # libvirt fills in the masquerade port range it uses in the live definition
            nat = d.forward.nat = d.forward.nat or ForwardNat()
            if nat.port is None or not nat.port.start:
                nat.port = NatRange()
                nat.port.start, nat.port.end = "1024", "65535"
        st = NetworkStatus(name=obj.name, network_xml=d.to_xml(), bridge=d.bridge_name,
                           starting=True)
        self._port_files(obj).delete_all()  # virNetworkObjDeleteAllPorts
        obj.ports = {}
        if d.has_bridge():
            self._check_bridge_free(d.bridge_name or "")
        self.statuses.save(st)  # the intent, before any part exists
        try:
            if d.has_bridge():
                self._start_virtual(d, st)
            obj.live, obj.status = d, st
            st.starting = False
            st.network_xml = d.to_xml()
            self.statuses.save(st)
        except BaseException:
            self._teardown_parts(obj.name, st)
            self.statuses.delete(obj.name)
            obj.live = obj.status = None
            raise
        self._event(obj, EV_STARTED)

    @staticmethod
    def _check_bridge_free(bridge: str) -> None:
        if br.link_exists(bridge):
            raise _err(ErrorCode.SYSTEM_ERROR,
                       f"Unable to create bridge {bridge}: File exists")

    def _start_virtual(self, d: NetworkDef, st: NetworkStatus) -> None:
        """Make the bridge, rules and dnsmasq; the status is saved after each part."""
        bridge = d.bridge_name or ""
        addrs = [dnsmasq.ip_interface(ip) for ip in d.ips]
        br.check_route_collision(addrs)
        routes = [(f"{r.address}/{r.prefix or _mask_len(r.netmask)}", r.gateway or "")
                  for r in d.routes if r.address and r.gateway]
        assert d.bridge is not None
        br.create_bridge(
            bridge, mac=d.mac.address if d.mac is not None else None,
            mtu=int(d.mtu.size) if d.mtu is not None and d.mtu.size else None,
            stp=d.bridge.stp != "off", delay=int(d.bridge.delay or 0),
            addresses=addrs, routes=routes)
        st.bridge_created = True
        self.statuses.save(st)
        mode = d.forward_mode
        if mode in ("nat", "route"):
            if any(a.version == 4 for a in addrs):
                br.set_sysctl("net/ipv4/ip_forward", "1")
            nat6 = d.forward is not None and d.forward.nat is not None \
                and d.forward.nat.ipv6 == "yes"
            if any(a.version == 6 for a in addrs) and (mode == "route" or nat6):
                br.set_sysctl("net/ipv6/conf/all/forwarding", "1")
        st.firewall = firewall.add_rules(d)
        self.statuses.save(st)
        if dnsmasq.needs_dnsmasq(d):
            st.dnsmasq_pid = dnsmasq.start(d, self.files(d.name or ""))

    def _teardown_parts(self, name: str, st: NetworkStatus) -> None:
        """Remove what ``st`` says was made: dnsmasq, rules, bridge, files (best effort)."""
        files = self.files(name)
        dnsmasq.stop(files, st.dnsmasq_pid or dnsmasq.dnsmasq_pid(files))
        for path in (files.conf, files.hostsfile, files.addnhosts, files.pidfile):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if st.bridge_created and st.bridge:
            with contextlib.suppress(VirtError):
                firewall.remove_rules(st.bridge)
            br.delete_link(st.bridge)

    def _teardown(self, obj: NetObj) -> None:
        """Stop ``obj``: remove its parts and status; forget it when transient."""
        if obj.status is not None:
            self._teardown_parts(obj.name, obj.status)
        self._port_files(obj).delete_all()
        obj.ports = {}
        self.statuses.delete(obj.name)
        obj.live = obj.status = None
        if not obj.persistent:
            self._forget(obj)

    def destroy(self, ident: NetworkIdent) -> None:
        with self.op():
            obj = self.lookup(ident)
            if not obj.active:
                raise _err(ErrorCode.OPERATION_INVALID, f"network '{obj.name}' is not active")
            self._teardown(obj)
            self._event(obj, EV_STOPPED)

    # ------------------------------------------------------------ queries

    def xml_desc(self, ident: NetworkIdent, flags: int = 0) -> str:
        with self.lock:
            d = self.lookup(ident).definition(bool(flags & _XML_INACTIVE))
            if flags & _XML_INACTIVE and d.connections is not None:
                d = d.copy()
                d.connections = None  # libvirt writes the count for the live XML only
            return d.to_xml()

    def bridge_name(self, ident: NetworkIdent) -> str:
        with self.lock:
            obj = self.lookup(ident)
            bridge = obj.definition().bridge_name
            if not bridge:
                raise _err(ErrorCode.INTERNAL_ERROR,
                           f"network '{obj.name}' does not have a bridge name.")
            return bridge

    def get_autostart(self, ident: NetworkIdent) -> bool:
        with self.lock:
            return self.lookup(ident).autostart

    def set_autostart(self, ident: NetworkIdent, on: bool) -> None:
        with self.lock:
            obj = self.lookup(ident)
            if not obj.persistent:
                raise _err(ErrorCode.OPERATION_INVALID,
                           "cannot set autostart for transient network")
            if obj.autostart != bool(on):
                self.configs.set_autostart(obj.name, bool(on))
                obj.autostart = bool(on)

    def is_active(self, ident: NetworkIdent) -> bool:
        with self.lock:
            return self.lookup(ident).active

    def is_persistent(self, ident: NetworkIdent) -> bool:
        with self.lock:
            return self.lookup(ident).persistent

    # ------------------------------------------------------------ net-update

    def update(self, ident: NetworkIdent, command: int, section: int, parent_index: int,
               xml: str, flags: int = 0) -> None:
        """virNetworkUpdate: change the live network (dnsmasq refreshed) and/or the config."""
        with self.op():
            obj = self.lookup(ident)
            if not flags & (_UPDATE_LIVE | _UPDATE_CONFIG):
                flags |= _UPDATE_LIVE if obj.active else _UPDATE_CONFIG
            if flags & _UPDATE_LIVE and not obj.active:
                raise _err(ErrorCode.OPERATION_INVALID, "network is not running")
            if flags & _UPDATE_CONFIG and not obj.persistent:
                raise _err(ErrorCode.OPERATION_INVALID,
                           "cannot change persistent config of a transient network")
            new_live = new_config = None
            if flags & _UPDATE_LIVE:
                assert obj.live is not None
                new_live = obj.live.copy()
                update.apply_update(new_live, command, section, parent_index, xml)
                check_supported(NetworkDef.from_xml(new_live.to_xml()))
            if flags & _UPDATE_CONFIG:
                assert obj.config is not None
                new_config = obj.config.copy()
                update.apply_update(new_config, command, section, parent_index, xml)
                check_supported(NetworkDef.from_xml(new_config.to_xml()))
            if new_config is not None:
                self.configs.save(obj.name, new_config.to_xml(), obj.uuid)
                obj.config = new_config
            if new_live is not None:
                self._apply_live(obj, new_live, section)

    def _apply_live(self, obj: NetObj, d: NetworkDef, section: int) -> None:
        assert obj.status is not None
        st = obj.status
        old = obj.live
        obj.live = d
        if st.bridge_created:
            files = self.files(obj.name)
            if section in (update.SECTION_DHCP_RANGE, update.SECTION_DHCP_HOST,
                           update.SECTION_FORWARD_INTERFACE):
                # the rules name the outbound device of a nat/route network (libvirt
                # reloads its firewall for these sections too)
                with contextlib.suppress(VirtError):
                    if st.firewall:
                        firewall.add_rules(d)
            had = old is not None and dnsmasq.needs_dnsmasq(old)
            restart = section in update.RESTART_SECTIONS or had != dnsmasq.needs_dnsmasq(d)
            pid = dnsmasq.dnsmasq_pid(files, st.dnsmasq_pid)
            if dnsmasq.needs_dnsmasq(d):
                if restart or pid is None:
                    dnsmasq.stop(files, pid)
                    st.dnsmasq_pid = dnsmasq.start(d, files)
                elif section in update.RELOAD_SECTIONS:
                    dnsmasq.reload(d, files, pid)
            elif pid is not None:
                dnsmasq.stop(files, pid)
                st.dnsmasq_pid = None
        st.network_xml = d.to_xml()
        self.statuses.save(st)

    # ------------------------------------------------------------ leases

    def dhcp_leases(self, ident: NetworkIdent, mac: str | None = None) -> list[NetworkDHCPLease]:
        """virNetworkGetDHCPLeases: the current leases, those of ``mac`` if given."""
        if mac is not None and not re.fullmatch(r"([0-9a-fA-F]{1,2}[:-]){5}[0-9a-fA-F]{1,2}",
                                                mac):
            raise _err(ErrorCode.INVALID_MAC, mac)
        with self.lock:
            obj = self.lookup(ident)
            d = obj.definition()
            path = self.files(obj.name).leases
        return _leases_for(d, path, _norm_mac(mac) if mac else None)

    def leases_for_mac(self, mac: str) -> list[NetworkDHCPLease]:
        """The current leases of ``mac`` on every active network (for domifaddr)."""
        want = _norm_mac(mac)
        with self.lock:
            nets = [(o.live, self.files(o.name).leases) for o in self.by_name.values()
                    if o.live is not None]
        out: list[NetworkDHCPLease] = []
        for d, path in nets:
            out.extend(_leases_for(d, path, want))
        return out

    def bridge_for(self, name: str) -> str:
        """The bridge a guest interface of ``<source network=NAME>`` attaches to."""
        with self.lock:
            obj = self.get(name)
            if obj.live is None:
                raise _err(ErrorCode.OPERATION_INVALID, f"network '{name}' is not active")
            bridge = obj.live.bridge_name
            if not bridge:
                raise _unsupported(f"attaching to <forward mode='{obj.live.forward_mode}'>",
                                   name)
            return bridge

    # ------------------------------------------------------------ ports (virNetworkPort*)

    def _port_files(self, obj: NetObj) -> PortFiles:
        return PortFiles(self.paths.status_dir, obj.name)

    @staticmethod
    def _require_active(obj: NetObj) -> NetworkDef:
        if obj.live is None:
            raise _err(ErrorCode.OPERATION_INVALID, f"network '{obj.name}' is not active")
        return obj.live

    @staticmethod
    def _find_port(obj: NetObj, uuid: str) -> NetworkPortDef:
        """virNetworkObjLookupPort."""
        canon = parse_uuid(uuid) or uuid
        port = obj.ports.get(canon)
        if port is None:
            raise _err(ErrorCode.NO_NETWORK_PORT, f"Network port with UUID {canon} does not exist")
        return port

    def _port_obj(self, port: NetworkPortIdent) -> tuple[NetObj, NetworkPortDef]:
        obj = self.lookup(port.network)
        found = self._find_port(obj, port.uuid)
        self._require_active(obj)
        return obj, found

    def _sync_connections(self, obj: NetObj) -> None:
        """Keep ``<network connections=N>`` of the live XML (and its status) current."""
        live = obj.live
        if live is None or obj.status is None:
            return
        count = len(obj.ports)
        live.connections = str(count) if count else None
        obj.status.network_xml = live.to_xml()
        with contextlib.suppress(VirtError):
            self.statuses.save(obj.status)

    def _allocate_port(self, d: NetworkDef, port: NetworkPortDef) -> None:
        """networkAllocatePort for virtkit's modes: inherit from the portgroup and the
        network, then fill in the ``<plug>``."""
        name = d.name or ""
        group = next((pg for pg in d.portgroups
                      if (pg.name == port.group if port.group else pg.default == "yes")), None)
        if port.rxfilters is None or port.rxfilters.trustGuest is None:
            trust = (group.trustGuestRxFilters if group is not None else None) \
                or d.trustGuestRxFilters
            if trust:
                port.rxfilters = RxFilters(trustGuest=trust)
        if (port.port is None or port.port.isolated is None) and d.port is not None \
                and d.port.isolated:
            port.port = d.port.copy()
        mode = d.forward_mode
        vport = port.virtualport.type if port.virtualport is not None else None
        if mode == "bridge":
            if vport is not None and vport != "openvswitch":
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"<virtualport type='{vport}'> not supported for network "
                           f"'{name}' which uses a bridge device")
            if vport is not None:
                raise _unsupported("<virtualport type='openvswitch'> on a port", name)
            kind = "bridge"
        else:
            if vport is not None:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"<virtualport type='{vport}'> not supported for network "
                           f"'{name}' which uses IP forwarding")
            kind = "network"
        mgr = d.bridge.macTableManager if d.bridge is not None else None
        port.plug = PortPlug(type=kind, bridge=d.bridge_name or "",
                             macTableManager=mgr if mgr in ("kernel", "libvirt") else None)
        inbound = port.bandwidth.inbound if port.bandwidth is not None else None
        if inbound is not None and inbound.floor not in (None, "", "0"):
            # networkCheckBandwidth: virtkit's networks never have inbound QoS.
            detail = ("'floor' is only supported for interface type 'network' with forward "
                      "type 'nat', 'route', 'open' or none" if mode == "bridge"
                      else f"network '{name}' has no inbound QoS set")
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       f"Invalid use of 'floor' on interface with MAC address "
                       f"{port.mac_address} - {detail}")

    @staticmethod
    def _notify_port(d: NetworkDef, port: NetworkPortDef) -> None:
        """networkNotifyPort: a port that was plugged before (a running domain's)."""
        name, kind = d.name or "", port.plug_type
        if kind in ("network", "bridge"):
            if not d.bridge_name:
                raise _err(ErrorCode.INTERNAL_ERROR,
                           "Unexpectedly got a network port without a network bridge")
        elif kind == "direct":
            assert port.plug is not None
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"network '{name}' doesn't have dev='{port.plug.dev}' "
                       f"in use by network port '{port.uuid}'")
        else:
            assert port.plug is not None and port.plug.address is not None
            a = port.plug.address
            pci = f"{int(a.domain or '0', 16):04x}:{int(a.bus or '0', 16):02x}:" \
                  f"{int(a.slot or '0', 16):02x}.{int(a.function or '0', 16):x}"
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"network '{name}' doesn't have PCI device {pci} in use by network port")

    def _add_port(self, obj: NetObj, port: NetworkPortDef, reclaim: bool) -> NetworkPortDef:
        """Check, plug and record ``port`` on the active network ``obj``."""
        d = self._require_active(obj)
        unknown = port.unknown_paths()
        if unknown:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"unsupported configuration: {unknown[0]} in network port")
        if port.plug_type == "none":
            if reclaim:
                raise _err(ErrorCode.INVALID_ARG, "Port reclaim requested but plug type is none")
            self._allocate_port(d, port)
        else:
            if not reclaim:
                raise _err(ErrorCode.INVALID_ARG,
                           "Port reclaim not requested but plug type is not none")
            self._notify_port(d, port)
        uuid = port.uuid or ""
        if uuid in obj.ports:
            raise _err(ErrorCode.NETWORK_PORT_EXIST,
                       f"Network port with UUID {uuid} already exists")
        self._port_files(obj).save(port)
        obj.ports[uuid] = port
        self._sync_connections(obj)
        return port

    def port_create(self, ident: NetworkIdent, xml: str, flags: int = 0) -> NetworkPortIdent:
        """virNetworkPortCreateXML."""
        with self.lock:
            obj = self.lookup(ident)
            port = NetworkPortDef.from_xml(xml)
            self._add_port(obj, port, bool(flags & _PORT_RECLAIM))
            return NetworkPortIdent(obj.ident, port.uuid or "")

    def port_list(self, ident: NetworkIdent) -> list[NetworkPortIdent]:
        """virNetworkListAllPorts (in UUID order)."""
        with self.lock:
            obj = self.lookup(ident)
            self._require_active(obj)
            return [NetworkPortIdent(obj.ident, u) for u in sorted(obj.ports)]

    def port_lookup(self, ident: NetworkIdent, uuid: str) -> NetworkPortIdent:
        """virNetworkPortLookupByUUID."""
        with self.lock:
            obj = self.lookup(ident)
            port = self._find_port(obj, uuid)
            self._require_active(obj)
            return NetworkPortIdent(obj.ident, port.uuid or "")

    def port_xml(self, port: NetworkPortIdent) -> str:
        """virNetworkPortGetXMLDesc."""
        with self.lock:
            return self._port_obj(port)[1].to_xml()

    def port_delete(self, port: NetworkPortIdent) -> None:
        """virNetworkPortDelete."""
        with self.lock:
            obj, found = self._port_obj(port)
            self._port_files(obj).delete(found.uuid or "")
            del obj.ports[found.uuid or ""]
            self._sync_connections(obj)

    def port_parameters(self, port: NetworkPortIdent) -> TypedParams:
        """virNetworkPortGetParameters: the port's bandwidth (all seven or none per direction)."""
        with self.lock:
            bw = self._port_obj(port)[1].bandwidth
        out: TypedParams = {}
        for pname, direction, field in _BANDWIDTH_PARAMS:
            rate = getattr(bw, direction) if bw is not None else None
            if rate is not None:
                out[pname] = int(getattr(rate, field) or 0)
        return out

    def port_set_parameters(self, port: NetworkPortIdent, params: TypedParams) -> None:
        """virNetworkPortSetParameters: replace the port's bandwidth.

        The network side only accounts 'floor' (virtkit's networks have no QoS, so a
        floor is refused); shaping the guest's tap is the hypervisor driver's job.
        """
        from virtkit.conf.netdev import Bandwidth, BandwidthRate

        values: dict[tuple[str, str], int] = {}
        for pname, direction, field in _BANDWIDTH_PARAMS:
            if pname in params:
                value = params[pname]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise _err(ErrorCode.INVALID_ARG,
                               f"invalid value for parameter '{pname}': {value!r}")
                values[(direction, field)] = value
        with self.lock:
            obj, found = self._port_obj(port)
            bw = Bandwidth(classID=found.bandwidth.classID if found.bandwidth else None)
            for direction, keep in (("inbound", ("average", "floor")), ("outbound", ("average",))):
                if any(values.get((direction, k)) for k in keep):
                    rate = BandwidthRate()
                    for (dname, field), v in values.items():
                        if dname == direction and v:
                            setattr(rate, field, str(v))
                    setattr(bw, direction, rate)
            if bw.inbound is not None and bw.inbound.floor:
                d = self._require_active(obj)
                raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                           f"Invalid use of 'floor' on interface with MAC address "
                           f"{found.mac_address} - network '{d.name}' has no inbound QoS set")
            updated = found.copy()
            updated.bandwidth = bw if (bw.inbound or bw.outbound) else None
            self._port_files(obj).save(updated)
            obj.ports[updated.uuid or ""] = updated

    # ---- for hypervisor drivers: a guest interface's port

    def port_allocate(self, network: str, port: NetworkPortDef) -> NetworkPortDef:
        """Plug a new guest interface into the active network ``network``.

        ``port`` has no ``<plug>`` (see :meth:`NetworkPortDef.build`); the returned copy
        has it filled in (``<plug type='network' bridge='virbr0'/>``). Raises
        VIR_ERR_NETWORK_PORT_EXIST when the UUID is taken.
        """
        with self.lock:
            obj = self.get(network)
            return self._add_port(obj, port.copy(), reclaim=False).copy()

    def plug_interface(self, network: str, owner_name: str, owner_uuid: str, mac: str, *,
                       portgroup: str | None = None,
                       port_uuid: str | None = None) -> NetworkPortDef:
        """A new port for a guest interface ``<source network=NETWORK>``: the returned port
        has the ``uuid`` to record as ``<source portid>`` and ``plug.bridge`` for the tap."""
        from virtkit.conf.common import new_uuid

        port = NetworkPortDef.build(port_uuid or new_uuid(), owner_name, owner_uuid, mac,
                                    group=portgroup)
        return self.port_allocate(network, port)

    def reclaim_interface(self, network: str, port_uuid: str, owner_name: str, owner_uuid: str,
                          mac: str, bridge: str) -> NetworkPortDef:
        """:meth:`port_reclaim` for a running guest interface recorded as ``<source
        network=NETWORK portid=PORT_UUID bridge=BRIDGE>`` (daemon restart)."""
        port = NetworkPortDef.build(port_uuid, owner_name, owner_uuid, mac)
        port.plug = PortPlug(type="network", bridge=bridge)
        return self.port_reclaim(network, port)

    def port_reclaim(self, network: str, port: NetworkPortDef) -> NetworkPortDef:
        """A running guest's existing port (daemon restart): keep it, or record it again
        when the network lost it (the network was restarted meanwhile)."""
        with self.lock:
            obj = self.get(network)
            self._require_active(obj)
            existing = obj.ports.get(port.uuid or "")
            if existing is not None:
                return existing.copy()
            return self._add_port(obj, port.copy(), reclaim=True).copy()

    def port_release(self, network: str, uuid: str) -> None:
        """A guest interface went away: delete its port. Silent when the network or the
        port is already gone (the network was stopped, or undefined)."""
        with self.lock:
            obj = self.by_name.get(network)
            if obj is None or obj.live is None:
                return
            port = obj.ports.pop(parse_uuid(uuid) or uuid, None)
            if port is None:
                return
            with contextlib.suppress(VirtError):
                self._port_files(obj).delete(port.uuid or "")
            self._sync_connections(obj)


def _mask_len(netmask: str | None) -> int:
    if not netmask:
        return 32
    return ipaddress.ip_network(f"0.0.0.0/{netmask}").prefixlen


def _norm_mac(mac: str) -> str:
    return ":".join(f"{int(p, 16):02x}" for p in re.split("[:-]", mac))


def _leases_for(d: NetworkDef, path: str, mac: str | None) -> list[NetworkDHCPLease]:
    now = int(time.time())
    prefixes: dict[int, int] = {}
    for ip in d.ips:
        iface = dnsmasq.ip_interface(ip)
        prefixes.setdefault(iface.version, iface.network.prefixlen)
    out = []
    for e in dnsmasq.read_leases(path):
        if mac is not None and e.mac != mac:
            continue
        if 0 < e.expiry < now:
            continue
        v6 = ":" in e.ip
        out.append(NetworkDHCPLease(
            d.bridge_name or "", e.expiry, 1 if v6 else 0, e.mac, e.iaid, e.ip,
            prefixes.get(6 if v6 else 4, 0), e.hostname, e.clientid))
    return out


_nodes: NodeRegistry[NetworkNode] = NodeRegistry()


def node_for(paths: NetworkPaths, *, autostart: bool = False) -> NetworkNode:
    """The node for ``paths`` in this process (created, loaded and re-attached once)."""
    return _nodes.acquire(paths, lambda: NetworkNode(paths, autostart=autostart))


def loaded(paths: NetworkPaths) -> NetworkNode | None:
    """The node for ``paths`` if this process has one (none is created)."""
    return _nodes.loaded(paths)


def release(node: NetworkNode) -> None:
    """A connection closed (the node and its networks stay)."""
    _nodes.release(node)
