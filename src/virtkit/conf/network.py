"""The virtual network XML format (``<network>``), as libvirt's network_conf.c.

Fields are declared in the order ``virNetworkDefFormatBuf`` writes them.
``post_parse`` applies libvirt's parse-time defaults (forward mode 'nat',
``<forward dev>`` becoming the first ``<interface>``, bridge ``stp='on'
delay='0'`` for bridged modes, lowercase MAC, generated UUID), so that
``to_xml()`` gives what ``virsh net-dumpxml`` would.
``validate_network_def`` raises the errors libvirt's parser raises.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from lxml import etree

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.model import (
    Spec,
    XmlModel,
    attr,
    child,
    children,
    model,
    raw,
    text_child,
    text_children,
)
from virtkit.conf.netdev import (
    Bandwidth,
    Mtu,
    PortOptions,
    Route,
    VirtualPort,
    Vlan,
)
from virtkit.conf.safechars import check_values
from virtkit.conf.xmlutil import escape_attr, start_tag
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"
FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
# Forward modes that use a libvirt-managed bridge (``hasbridge`` in libvirt).
BRIDGED_MODES = (None, "nat", "route", "open")
LEASE_UNITS = ("seconds", "minutes", "hours")


def _err(code: int, detail: str | None) -> VirtError:
    return make_error(code, ErrorDomain.NETWORK, detail)


# ----------------------------------------------------------------------------- forward


@model("driver")
class ForwardDriver(XmlModel):
    """``<driver name='vfio'/>`` inside a hostdev ``<forward>``."""

    name: str | None = attr()


@model("address")
class NatRange(XmlModel):
    """``<address start= end=>`` or ``<port start= end=>`` inside ``<nat>``."""

    start: str | None = attr()
    end: str | None = attr()


@model("nat")
class ForwardNat(XmlModel):
    """``<nat>``: SNAT address and port ranges, IPv6 NAT."""

    ipv6: str | None = attr()
    address: NatRange | None = child("address", NatRange)
    port: NatRange | None = child("port", NatRange)


@model("pf")
class ForwardPf(XmlModel):
    """``<pf dev='eth0'/>``: the SR-IOV physical function."""

    dev: str | None = attr()


@model("interface")
class ForwardInterface(XmlModel):
    """``<interface dev='eth1'/>`` in a ``<forward>`` pool."""

    dev: str | None = attr()
    connections: str | None = attr()


@model("address")
class PciAddress(XmlModel):
    """A PCI ``<address>`` in a hostdev ``<forward>`` pool."""

    type: str | None = attr()
    domain: str | None = attr()
    bus: str | None = attr()
    slot: str | None = attr()
    function: str | None = attr()
    multifunction: str | None = attr()


@model("forward")
class Forward(XmlModel):
    """``<forward mode='nat' dev='eth0'>``."""

    dev: str | None = attr()
    mode: str | None = attr()
    managed: str | None = attr()
    driver: ForwardDriver | None = child("driver", ForwardDriver)
    nat: ForwardNat | None = child("nat", ForwardNat)
    pfs: list[ForwardPf] = children("pf", ForwardPf)
    interfaces: list[ForwardInterface] = children("interface", ForwardInterface)
    addresses: list[PciAddress] = children("address", PciAddress)

    def first_dev(self) -> str | None:
        """The device libvirt writes as ``dev=``: the first interface's, if no ``<pf>``."""
        if self.pfs:
            return None
        if self.interfaces:
            return self.interfaces[0].dev
        return self.dev

    def xml_attrs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        dev = self.first_dev()
        if dev is not None:
            out.append(("dev", dev))
        out.append(("mode", self.mode or "nat"))
        if (self.mode or "nat") == "hostdev":
            out.append(("managed", "yes" if (self.managed or "").lower() == "yes" else "no"))
        elif self.managed is not None and self.mode not in FORWARD_MODES:
            out.append(("managed", self.managed))
        out.extend(self.unknown_attrs)
        return out


# ----------------------------------------------------------------------------- bridge & co


@model("bridge")
class Bridge(XmlModel):
    """``<bridge name='virbr0' stp='on' delay='0'/>``."""

    name: str | None = attr()
    zone: str | None = attr()
    stp: str | None = attr()
    delay: str | None = attr()
    macTableManager: str | None = attr()


@model("mac")
class Mac(XmlModel):
    """``<mac address='52:54:00:...'/>`` of the bridge."""

    address: str | None = attr()


@model("domain")
class NetDomain(XmlModel):
    """``<domain name='example.com' localOnly='yes'/>``: the DNS domain."""

    name: str | None = attr()
    localOnly: str | None = attr()


# ----------------------------------------------------------------------------- dns


@model("forwarder")
class DnsForwarder(XmlModel):
    """``<forwarder domain= addr=/>``."""

    domain: str | None = attr()
    addr: str | None = attr()


@model("txt")
class DnsTxt(XmlModel):
    """``<txt name= value=/>``."""

    name: str | None = attr()
    value: str | None = attr()


@model("srv")
class DnsSrv(XmlModel):
    """``<srv service= protocol= domain= target= port= priority= weight=/>``."""

    service: str | None = attr()
    protocol: str | None = attr()
    domain: str | None = attr()
    target: str | None = attr()
    port: str | None = attr()
    priority: str | None = attr()
    weight: str | None = attr()


@model("host")
class DnsHost(XmlModel):
    """``<host ip=>`` with its ``<hostname>`` children."""

    ip: str | None = attr()
    hostnames: list[str] = text_children("hostname")


@model("dns")
class Dns(XmlModel):
    """``<dns>``: forwarders, TXT, SRV and host records."""

    enable: str | None = attr()
    forwardPlainNames: str | None = attr()
    forwarders: list[DnsForwarder] = children("forwarder", DnsForwarder)
    txts: list[DnsTxt] = children("txt", DnsTxt)
    srvs: list[DnsSrv] = children("srv", DnsSrv)
    hosts: list[DnsHost] = children("host", DnsHost)

    def is_empty(self) -> bool:
        return not (
            self.enable or self.forwardPlainNames or self.forwarders or self.txts
            or self.srvs or self.hosts or self.unknown_children or self.unknown_attrs
        )


# ----------------------------------------------------------------------------- ip


@model("lease")
class Lease(XmlModel):
    """``<lease expiry='1' unit='hours'/>`` (expiry 0 is infinite)."""

    expiry: str | None = attr()
    unit: str | None = attr()

    def xml_attrs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.expiry is not None:
            out.append(("expiry", self.expiry))
            if _is_nonzero(self.expiry):
                out.append(("unit", self.unit or "minutes"))
            elif self.unit is not None and not _is_number(self.expiry):
                out.append(("unit", self.unit))
        elif self.unit is not None:
            out.append(("unit", self.unit))
        out.extend(self.unknown_attrs)
        return out


@model("range")
class DhcpRange(XmlModel):
    """``<range start= end=>`` with an optional ``<lease>``."""

    start: str | None = attr()
    end: str | None = attr()
    lease: Lease | None = child("lease", Lease)


@model("host")
class DhcpHost(XmlModel):
    """A static DHCP lease: ``<host mac= id= name= ip=>``."""

    mac: str | None = attr()
    id: str | None = attr()
    name: str | None = attr()
    ip: str | None = attr()
    lease: Lease | None = child("lease", Lease)


@model("bootp")
class Bootp(XmlModel):
    """``<bootp file= server=/>``."""

    file: str | None = attr()
    server: str | None = attr()


@model("dhcp")
class Dhcp(XmlModel):
    """``<dhcp>``: ranges, static hosts and the PXE boot file."""

    ranges: list[DhcpRange] = children("range", DhcpRange)
    hosts: list[DhcpHost] = children("host", DhcpHost)
    bootp: Bootp | None = child("bootp", Bootp)

    def is_empty(self) -> bool:
        # libvirt writes <dhcp> only when it has a range or a host.
        return not (self.ranges or self.hosts or self.unknown_children)


@model("tftp")
class Tftp(XmlModel):
    """``<tftp root='/srv/tftp'/>``."""

    root: str | None = attr()


@model("ip")
class NetworkIP(XmlModel):
    """``<ip address= netmask=|prefix= family=>`` with DHCP and TFTP settings."""

    family: str | None = attr()
    address: str | None = attr()
    netmask: str | None = attr()
    prefix: str | None = attr()
    localPtr: str | None = attr()
    tftp: Tftp | None = child("tftp", Tftp)
    dhcp: Dhcp | None = child("dhcp", Dhcp)

    def xml_attrs(self) -> list[tuple[str, str]]:
        # libvirt writes prefix only when it is > 0
        return [(k, v) for k, v in super().xml_attrs() if not (k == "prefix" and v == "0")]

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        # libvirt always writes <ip ...> and </ip> on their own lines.
        pad = " " * indent
        out.append(f"{pad}{start_tag(tag or self.TAG, self.xml_attrs())}>\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</{tag or self.TAG}>\n")


@model("portgroup")
class PortGroup(XmlModel):
    """``<portgroup name= default=>`` with per-group vlan, virtualport, bandwidth."""

    name: str | None = attr()
    default: str | None = attr()
    trustGuestRxFilters: str | None = attr()
    vlan: Vlan | None = child("vlan", Vlan)
    virtualport: VirtualPort | None = child("virtualport", VirtualPort)
    bandwidth: Bandwidth | None = child("bandwidth", Bandwidth)

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        pad = " " * indent
        out.append(f"{pad}{start_tag(tag or self.TAG, self.xml_attrs())}>\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</{tag or self.TAG}>\n")


# ----------------------------------------------------------------------------- the network


_DNSMASQ_OPTIONS = f"{{{DNSMASQ_NS}}}options"


@model("network")
class NetworkDef(XmlModel):
    """A virtual network definition."""

    XML_CONTEXT = "network_definition"

    ERROR_DOMAIN = ErrorDomain.NETWORK

    connections: str | None = attr()
    ipv6: str | None = attr()
    trustGuestRxFilters: str | None = attr()
    name: str | None = text_child("name")
    uuid: str | None = text_child("uuid")
    metadata: Any = raw("metadata")
    forward: Forward | None = child("forward", Forward)
    bridge: Bridge | None = child("bridge", Bridge)
    mtu: Mtu | None = child("mtu", Mtu)
    mac: Mac | None = child("mac", Mac)
    domain: NetDomain | None = child("domain", NetDomain)
    dns: Dns | None = child("dns", Dns)
    vlan: Vlan | None = child("vlan", Vlan)
    bandwidth: Bandwidth | None = child("bandwidth", Bandwidth)
    port: PortOptions | None = child("port", PortOptions)
    ips: list[NetworkIP] = children("ip", NetworkIP)
    routes: list[Route] = children("route", Route)
    virtualport: VirtualPort | None = child("virtualport", VirtualPort)
    portgroups: list[PortGroup] = children("portgroup", PortGroup)
    dnsmasq_options_el: Any = raw(_DNSMASQ_OPTIONS)

    # ------------------------------------------------------------------ libvirt defaults

    def post_parse(self) -> None:
        """libvirt's parse-time canonicalisation (see module docstring)."""
        if self.uuid is None:
            self.uuid = new_uuid()
        else:
            self.uuid = parse_uuid(self.uuid) or self.uuid
        if self.ipv6 == "no":
            self.ipv6 = None  # libvirt writes the attribute only when it is 'yes'
        fwd = self.forward
        if fwd is not None:
            if fwd.mode is None:
                fwd.mode = "nat"
            if fwd.dev is not None and not (fwd.pfs or fwd.addresses or fwd.interfaces):
                iface = ForwardInterface()
                iface.dev = fwd.dev
                fwd.interfaces.append(iface)
            if fwd.nat is not None and fwd.mode != "nat":
                fwd.nat = None if _nat_empty(fwd.nat) else fwd.nat
        if self.has_bridge():
            if self.bridge is None:
                self.bridge = Bridge()
            self.bridge.stp = "off" if self.bridge.stp == "off" else "on"
            if self.bridge.delay is None:
                self.bridge.delay = "0"
            elif self.bridge.delay.isdigit():
                self.bridge.delay = str(int(self.bridge.delay))
        if self.mac is not None and self.mac.address is not None:
            self.mac.address = self.mac.address.lower()
        for ip in self.ips:
            if ip.dhcp is not None:
                for h in ip.dhcp.hosts:
                    if h.mac is not None:
                        h.mac = h.mac.lower()

    def has_bridge(self) -> bool:
        """Whether the forward mode uses a libvirt-managed bridge."""
        mode = self.forward.mode if self.forward is not None else None
        return mode in BRIDGED_MODES

    @property
    def forward_mode(self) -> str | None:
        """The forward mode, or None for an isolated network."""
        return self.forward.mode if self.forward is not None else None

    @property
    def bridge_name(self) -> str | None:
        """The bridge device name, if any."""
        return self.bridge.name if self.bridge is not None else None

    @property
    def dnsmasq_options(self) -> list[str]:
        """The values of ``<dnsmasq:options><dnsmasq:option value=.../>``."""
        el = self.dnsmasq_options_el
        if el is None:
            return []
        return [str(c.get("value")) for c in el if c.get("value") is not None]

    # ------------------------------------------------------------------ writing

    def xml_attrs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for prefix, uri in self.namespaces:
            out.append((f"xmlns:{prefix}" if prefix else "xmlns", uri))
        if self.connections is not None and self.connections not in ("0",):
            out.append(("connections", self.connections))
        if self.ipv6 is not None:
            out.append(("ipv6", self.ipv6))
        if self.trustGuestRxFilters is not None:
            out.append(("trustGuestRxFilters", self.trustGuestRxFilters))
        out.extend(self.unknown_attrs)
        return out

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if isinstance(value, (Dns, Dhcp)) and value.is_empty():
            return
        if fname == "dnsmasq_options_el":
            if value is not None:
                _write_dnsmasq(out, indent, value)
            return
        super().write_field(out, indent, fname, spec, value)


def _write_dnsmasq(out: list[str], indent: int, el: etree._Element) -> None:
    pad = " " * indent
    items = [c for c in el if isinstance(c.tag, str)]
    if not items:
        return
    out.append(f"{pad}<dnsmasq:options>\n")
    for c in items:
        value = c.get("value")
        if value is None:
            continue
        out.append(f"{pad}  <dnsmasq:option value='{escape_attr(value)}'/>\n")
    out.append(f"{pad}</dnsmasq:options>\n")


def _nat_empty(nat: ForwardNat) -> bool:
    return nat.ipv6 is None and nat.address is None and nat.port is None


def _is_number(s: str) -> bool:
    return s.strip().isdigit()


def _is_nonzero(s: str) -> bool:
    return _is_number(s) and int(s) != 0


# ----------------------------------------------------------------------------- validation


def generated_file_values(d: NetworkDef) -> Iterator[tuple[str, str | None]]:
    """Every ``(element, value)`` of ``d`` that reaches dnsmasq's files or nftables rules."""
    yield "<name>", d.name
    yield "<bridge name>", d.bridge.name if d.bridge is not None else None
    yield "<domain name>", d.domain.name if d.domain is not None else None
    if d.dns is not None:
        yield from _dns_values(d.dns)
    for ip in d.ips:
        yield from _ip_values(ip)
    for opt in d.dnsmasq_options:
        yield "<dnsmasq:option value>", opt


def _dns_values(dns: Dns) -> Iterator[tuple[str, str | None]]:
    for fwd in dns.forwarders:
        yield from (("<forwarder domain>", fwd.domain), ("<forwarder addr>", fwd.addr))
    for txt in dns.txts:
        yield from (("<txt name>", txt.name), ("<txt value>", txt.value))
    for srv in dns.srvs:
        for key in ("service", "protocol", "domain", "target", "port", "priority", "weight"):
            yield f"<srv {key}>", getattr(srv, key)
    for host in dns.hosts:
        yield "<host ip>", host.ip
        yield from (("<hostname>", n) for n in host.hostnames)


def _ip_values(ip: NetworkIP) -> Iterator[tuple[str, str | None]]:
    yield "<tftp root>", ip.tftp.root if ip.tftp is not None else None
    dhcp = ip.dhcp
    if dhcp is None:
        return
    yield "<bootp file>", dhcp.bootp.file if dhcp.bootp is not None else None
    yield "<bootp server>", dhcp.bootp.server if dhcp.bootp is not None else None
    for h in dhcp.hosts:
        for key in ("mac", "id", "name", "ip"):
            yield f"<dhcp host {key}>", getattr(h, key)


def validate_network_def(d: NetworkDef) -> None:
    """Raise the error libvirt's network parser raises for ``d``, if any."""
    if not d.name:
        raise make_error(ErrorCode.NO_NAME, ErrorDomain.NETWORK, None)
    for ch in "/\n":  # virXMLCheckIllegalChars: VIR_ERR_XML_DETAIL from VIR_FROM_XML
        if ch in d.name:
            raise make_error(ErrorCode.XML_DETAIL, ErrorDomain.XML, f"invalid char in name: {ch}")
    check_values(generated_file_values(d), ErrorDomain.NETWORK)
    if d.uuid is not None and parse_uuid(d.uuid) is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "malformed uuid element")
    name = d.name
    if d.ipv6 is not None and d.ipv6 not in ("yes", "no"):
        raise _err(ErrorCode.XML_ERROR, f"Invalid ipv6 setting '{d.ipv6}' in network '{name}'")
    br = d.bridge
    if br is not None:
        if br.delay is not None and not br.delay.isdigit():
            raise _err(ErrorCode.XML_ERROR, f"Invalid delay value in network '{name}'")
        if br.macTableManager is not None and br.macTableManager not in ("kernel", "libvirt"):
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid macTableManager setting '{br.macTableManager}' "
                       f"in network '{name}'")
    if d.mac is not None and d.mac.address is not None:
        _check_mac(d.mac.address, name)
    if d.mtu is not None and d.mtu.size is not None and not d.mtu.size.isdigit():
        raise _err(ErrorCode.XML_ERROR, f"Invalid mtu size '{d.mtu.size}' in network '{name}'")
    if d.dns is not None:
        _check_dns(d.dns, name)
    for ip in d.ips:
        _check_ip(ip, name)
    fwd = d.forward
    if fwd is not None:
        _check_forward(fwd, name)
    mode = fwd.mode if fwd is not None else None
    if mode in ("route", "nat", "open"):
        assert fwd is not None
        if not d.ips:
            raise _err(ErrorCode.XML_ERROR,
                       f"{mode} forwarding requested, but no IP address provided "
                       f"for network '{name}'")
        if len(fwd.interfaces) > 1:
            raise _err(ErrorCode.XML_ERROR,
                       f"multiple forwarding interfaces specified for network '{name}', "
                       "only one is supported")
        if mode == "open" and fwd.interfaces:
            raise _err(ErrorCode.XML_ERROR,
                       f"forward dev not allowed for network '{name}' with forward mode='{mode}'")
    elif mode is not None:
        assert fwd is not None
        if mode != "bridge" and br is not None:
            if br.name:
                raise _err(ErrorCode.XML_ERROR,
                           f"bridge name not allowed in {mode} mode (network '{name}')")
            if br.macTableManager:
                raise _err(ErrorCode.XML_ERROR,
                           f"bridge macTableManager setting not allowed in {mode} mode "
                           f"(network '{name}')")
        if br is not None and ((br.delay not in (None, "0")) or br.stp is not None
                               or br.zone is not None):
            raise _err(ErrorCode.XML_ERROR,
                       "bridge delay/stp/zone options only allowed in route, nat, and "
                       f"isolated mode, not in {mode} (network '{name}')")
        if br is not None and br.name and (fwd.interfaces or fwd.pfs):
            raise _err(ErrorCode.XML_ERROR,
                       f"A network with forward mode='{mode}' can specify a bridge name "
                       f"or a forward dev, but not both (network '{name}')")
        if d.mtu is not None and d.mtu.size not in (None, "0"):
            raise _err(ErrorCode.XML_ERROR,
                       "mtu size only allowed in open, route, nat, and isolated mode, "
                       f"not in {mode} (network '{name}')")


def _check_mac(addr: str, name: str) -> None:
    parts = addr.split(":")
    ok = len(parts) == 6 and all(1 <= len(p) <= 2 and _is_hex(p) for p in parts)
    if not ok:
        raise _err(ErrorCode.XML_ERROR,
                   f"Invalid bridge mac address '{addr}' in network '{name}'")
    if int(parts[0], 16) & 1:
        raise _err(ErrorCode.XML_ERROR,
                   f"Invalid multicast bridge mac address '{addr}' in network '{name}'")


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)


def _check_dns(dns: Dns, name: str) -> None:
    for value, what in ((dns.enable, "enable"), (dns.forwardPlainNames, "forwardPlainNames")):
        if value is not None and value not in ("yes", "no"):
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid dns {what} setting '{value}' in network '{name}'")
    if dns.enable == "no" and (dns.forwarders or dns.hosts or dns.srvs or dns.txts):
        raise _err(ErrorCode.XML_ERROR, f"Extra data in disabled network '{name}'")
    for txt in dns.txts:
        if not txt.name:
            raise _err(ErrorCode.XML_DETAIL,
                       f"missing required name attribute in DNS TXT record of network {name}")
    for srv in dns.srvs:
        if not srv.service and (srv.protocol or srv.domain or srv.target):
            raise _err(ErrorCode.XML_DETAIL,
                       f"missing required service attribute in DNS SRV record of network '{name}'")


def _check_ip(ip: NetworkIP, name: str) -> None:
    if ip.family is not None and ip.family not in ("ipv4", "ipv6"):
        raise _err(ErrorCode.XML_ERROR,
                   f"Unrecognized family '{ip.family}' in network '{name}'")
    if ip.netmask is not None and ip.prefix is not None:
        raise _err(ErrorCode.XML_ERROR,
                   f"Network '{name}' IP address cannot have both a prefix and a netmask")
    if ip.dhcp is not None:
        for lease in [r.lease for r in ip.dhcp.ranges] + [h.lease for h in ip.dhcp.hosts]:
            if lease is None or lease.expiry is None:
                continue
            unit = lease.unit or "minutes"
            if unit not in LEASE_UNITS or not _is_number(lease.expiry):
                raise _err(ErrorCode.XML_ERROR,
                           f"Invalid value for attribute 'unit' in element 'lease': '{unit}'")
            n = int(lease.expiry)
            if n and ((unit == "seconds" and n < 120) or (unit == "minutes" and n < 2)):
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           "The minimum lease time should be greater than 2 minutes")


def _check_forward(fwd: Forward, name: str) -> None:
    if fwd.mode is not None and fwd.mode not in FORWARD_MODES:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"unknown forwarding type '{fwd.mode}'")
    if fwd.driver is not None and fwd.driver.name not in ("kvm", "vfio"):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"Unknown forward <driver name='{fwd.driver.name}'/> in network {name}")
    if fwd.dev is not None and (fwd.addresses or fwd.pfs):
        raise _err(ErrorCode.XML_ERROR,
                   "the <forward> 'dev' attribute cannot be used when <address> or <pf> "
                   "sub-elements are present in network %s")
    if len(fwd.pfs) > 1:
        raise _err(ErrorCode.XML_ERROR,
                   f"Only one <pf> element is allowed in <forward> of network {name}")
    for pf in fwd.pfs:
        if not pf.dev:
            raise _err(ErrorCode.XML_ERROR,
                       f"Missing required dev attribute in <pf> element of network '{name}'")
    seen: set[str] = set()
    for i, iface in enumerate(fwd.interfaces):
        if iface.dev is None:
            raise _err(ErrorCode.XML_ERROR,
                       "Missing required dev attribute in <forward> <interface> element "
                       f"of network {name}")
        if i == 0 and fwd.dev is not None and iface.dev != fwd.dev:
            raise _err(ErrorCode.XML_ERROR,
                       f"<forward dev='{fwd.dev}'> must match first <interface dev='{iface.dev}'/>"
                       f" in network {name}")
        if iface.dev in seen:
            raise _err(ErrorCode.XML_ERROR,
                       f"interface '{iface.dev}' can only be listed once in network {name}")
        seen.add(iface.dev)
    if fwd.interfaces:
        return
    pci_seen: set[tuple[int, int, int, int]] = set()
    for addr in fwd.addresses:
        if addr.type is None:
            raise _err(ErrorCode.XML_ERROR, f"missing address type in network {name}")
        if addr.type != "pci":
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"unknown address type '{addr.type}' in network {name}")
        key = (_pci_num(addr.domain), _pci_num(addr.bus), _pci_num(addr.slot),
               _pci_num(addr.function))
        if key in pci_seen:
            d, b, s, f = key
            raise _err(ErrorCode.XML_ERROR,
                       f"PCI device '{d:04x}:{b:02x}:{s:02x}.{f:x}' can only be listed once "
                       f"in network {name}")
        pci_seen.add(key)


def _pci_num(v: str | None) -> int:
    if v is None:
        return 0
    try:
        return int(v, 0)
    except ValueError:
        return -1


def ip_interface(ip: NetworkIP) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """The address and prefix of an ``<ip>`` (libvirt's virNetworkIPDefPrefix: netmask,
    prefix or the classful default)."""
    addr = ipaddress.ip_address(ip.address or "")
    if ip.prefix not in (None, "", "0"):
        plen = int(ip.prefix or 0)
    elif ip.netmask:
        plen = ipaddress.IPv4Network(f"0.0.0.0/{ip.netmask}").prefixlen
    elif addr.version == 6:
        plen = 64
    else:  # libvirt's virSocketAddrGetIPPrefix: the old class A/B/C default
        first = int(addr) >> 24
        plen = 8 if first < 128 else 16 if first < 192 else 24
    return ipaddress.ip_interface(f"{addr}/{plen}")
