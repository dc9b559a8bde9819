"""``<interface>`` devices of every type."""

from __future__ import annotations

from collections.abc import Sequence

from virtkit.conf.dev_common import (
    Acpi,
    Address,
    Alias,
    BackendDomain,
    Boot,
    DevModel,
    Reconnect,
    Rom,
    reorder,
)
from virtkit.conf.dev_hostdev import IdRef, IPAddress, OrigStates, Teaming
from virtkit.conf.model import (
    Spec,
    XmlModel,
    attr,
    child,
    children,
    enum_conv,
    model,
    text_child,
)
from virtkit.conf.netdev import Bandwidth, Mtu, PortOptions, Route, VirtualPort, Vlan

NET_TYPES = enum_conv(
    "user", "ethernet", "vhostuser", "server", "client", "mcast", "network", "bridge",
    "internal", "direct", "hostdev", "udp", "vdpa", "null", "vds",
)


@model("mac")
class Mac(XmlModel):
    address: str | None = attr()
    type: str | None = attr()
    check: str | None = attr()


@model("local")
class LocalEndpoint(XmlModel):
    address: str | None = attr()
    port: str | None = attr()


@model("source")
class InterfaceSource(XmlModel):
    """Where the interface connects on the host; attributes depend on the type
    (network/portgroup/portid, bridge, dev+mode, type+path+mode, address+port, ...)."""

    network: str | None = attr()
    portgroup: str | None = attr()
    switchid: str | None = attr()
    portid: str | None = attr()
    portgroupid: str | None = attr()
    connectionid: str | None = attr()
    bridge: str | None = attr()
    macTableManager: str | None = attr()
    type: str | None = attr()
    dev: str | None = attr()
    path: str | None = attr()
    mode: str | None = attr()
    address_attr: str | None = attr(xml="address")
    port: str | None = attr()
    name: str | None = attr()
    startupPolicy: str | None = attr()
    writeFiltering: str | None = attr()

    reconnect: Reconnect | None = child("reconnect", Reconnect)
    local: LocalEndpoint | None = child("local", LocalEndpoint)
    vendor: IdRef | None = child("vendor", IdRef)
    product: IdRef | None = child("product", IdRef)
    address: Address | None = child("address", Address)
    origstates: OrigStates | None = child("origstates", OrigStates)
    ips: list[IPAddress] = children("ip", IPAddress)
    routes: list[Route] = children("route", Route)


@model("range")
class PortForwardRange(XmlModel):
    start: str | None = attr()
    end: str | None = attr()
    to: str | None = attr()
    exclude: str | None = attr()


@model("portForward")
class PortForward(XmlModel):
    proto: str | None = attr()
    address: str | None = attr()
    dev: str | None = attr()
    ranges: list[PortForwardRange] = children("range", PortForwardRange)


@model("script")
class PathRef(XmlModel):
    path: str | None = attr()


@model("target")
class InterfaceTarget(XmlModel):
    dev: str | None = attr()
    managed: str | None = attr()


@model("guest")
class InterfaceGuest(XmlModel):
    dev: str | None = attr()
    actual: str | None = attr()


@model("model")
class InterfaceModel(XmlModel):
    type: str | None = attr()


@model("host")
class NetDriverHost(XmlModel):
    csum: str | None = attr()
    gso: str | None = attr()
    tso4: str | None = attr()
    tso6: str | None = attr()
    ecn: str | None = attr()
    ufo: str | None = attr()
    mrg_rxbuf: str | None = attr()


@model("guest")
class NetDriverGuest(XmlModel):
    csum: str | None = attr()
    tso4: str | None = attr()
    tso6: str | None = attr()
    ecn: str | None = attr()
    ufo: str | None = attr()


@model("driver")
class InterfaceDriver(XmlModel):
    name: str | None = attr()
    txmode: str | None = attr()
    ioeventfd: str | None = attr()
    event_idx: str | None = attr()
    queues: str | None = attr()
    rx_queue_size: str | None = attr()
    tx_queue_size: str | None = attr()
    rss: str | None = attr()
    rss_hash_report: str | None = attr()
    iommu: str | None = attr()
    ats: str | None = attr()
    packed: str | None = attr()
    page_per_vq: str | None = attr()
    host: NetDriverHost | None = child("host", NetDriverHost)
    guest: NetDriverGuest | None = child("guest", NetDriverGuest)


@model("backend")
class InterfaceBackend(XmlModel):
    type: str | None = attr()
    tap: str | None = attr()
    vhost: str | None = attr()
    logFile: str | None = attr()


@model("parameter")
class FilterParameter(XmlModel):
    name: str | None = attr()
    value: str | None = attr()


@model("filterref")
class FilterRef(XmlModel):
    filter: str | None = attr()
    parameters: list[FilterParameter] = children("parameter", FilterParameter)


@model("tune")
class InterfaceTune(XmlModel):
    sndbuf: str | None = text_child("sndbuf")


@model("link")
class Link(XmlModel):
    state: str | None = attr()


@model("frames")
class CoalesceFrames(XmlModel):
    max: str | None = attr()


@model("rx")
class CoalesceRx(XmlModel):
    frames: CoalesceFrames | None = child("frames", CoalesceFrames)


@model("coalesce")
class Coalesce(XmlModel):
    rx: CoalesceRx | None = child("rx", CoalesceRx)


@model("class")
class ClassId(XmlModel):
    id: str | None = attr()


@model("actual")
class ActualNet(XmlModel):
    """The network-assigned connection kept in status XML."""

    type: str | None = attr()
    managed: str | None = attr()
    trustGuestRxFilters: str | None = attr()
    source: InterfaceSource | None = child("source", InterfaceSource)
    class_id: ClassId | None = child("class", ClassId)
    vlan: Vlan | None = child("vlan", Vlan)
    virtualport: VirtualPort | None = child("virtualport", VirtualPort)
    bandwidth: Bandwidth | None = child("bandwidth", Bandwidth)
    port: PortOptions | None = child("port", PortOptions)


@model("interface")
class Interface(DevModel):
    """A network interface of any type."""

    type: str | None = attr(conv=NET_TYPES)
    managed: str | None = attr()
    trustGuestRxFilters: str | None = attr()

    mac: Mac | None = child("mac", Mac)
    source: InterfaceSource | None = child("source", InterfaceSource)
    class_id: ClassId | None = child("class", ClassId)
    vlan: Vlan | None = child("vlan", Vlan)
    virtualport: VirtualPort | None = child("virtualport", VirtualPort)
    bandwidth: Bandwidth | None = child("bandwidth", Bandwidth)
    port: PortOptions | None = child("port", PortOptions)
    actual: ActualNet | None = child("actual", ActualNet)
    ips: list[IPAddress] = children("ip", IPAddress)
    routes: list[Route] = children("route", Route)
    port_forwards: list[PortForward] = children("portForward", PortForward)
    script: PathRef | None = child("script", PathRef)
    downscript: PathRef | None = child("downscript", PathRef)
    backenddomain: BackendDomain | None = child("backenddomain", BackendDomain)
    target: InterfaceTarget | None = child("target", InterfaceTarget)
    guest: InterfaceGuest | None = child("guest", InterfaceGuest)
    model: InterfaceModel | None = child("model", InterfaceModel)
    driver: InterfaceDriver | None = child("driver", InterfaceDriver)
    backend: InterfaceBackend | None = child("backend", InterfaceBackend)
    filterref: FilterRef | None = child("filterref", FilterRef)
    tune: InterfaceTune | None = child("tune", InterfaceTune)
    teaming: Teaming | None = child("teaming", Teaming)
    link: Link | None = child("link", Link)
    mtu: Mtu | None = child("mtu", Mtu)
    coalesce: Coalesce | None = child("coalesce", Coalesce)
    boot: Boot | None = child("boot", Boot)
    alias: Alias | None = child("alias", Alias)
    rom: Rom | None = child("rom", Rom)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)

    def field_order(self) -> Sequence[tuple[str, Spec]]:
        order = self._compiled.child_order
        if self.type == "hostdev":
            # a hostdev interface writes its PCI backend <driver name='vfio'/> before <source>
            return reorder(order, {"driver": "mac"})
        return order
