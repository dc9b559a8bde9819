"""Network-device pieces shared by domain ``<interface>`` and ``<network>`` XML.

libvirt parses and formats these with the same code in both places
(netdev_vlan_conf.c, netdev_vport_profile_conf.c, netdev_bandwidth_conf.c,
``<port>``, ``<mtu>`` and ``<route>``).
"""

from __future__ import annotations

from virtkit.conf.model import XmlModel, attr, child, children, model


@model("parameters")
class VirtualPortParameters(XmlModel):
    """``<parameters>`` of a ``<virtualport>`` (order of virNetDevVPortProfileFormat)."""

    managerid: str | None = attr()
    typeid: str | None = attr()
    typeidversion: str | None = attr()
    instanceid: str | None = attr()
    interfaceid: str | None = attr()
    profileid: str | None = attr()


@model("virtualport")
class VirtualPort(XmlModel):
    """``<virtualport type='...'>`` (802.1Qbg, 802.1Qbh, openvswitch, midonet)."""

    type: str | None = attr()
    parameters: VirtualPortParameters | None = child("parameters", VirtualPortParameters)


@model("tag")
class VlanTag(XmlModel):
    """One ``<tag id='N'/>`` of a ``<vlan>``."""

    id: str | None = attr()
    nativeMode: str | None = attr()


@model("vlan")
class Vlan(XmlModel):
    """``<vlan trunk='yes'>`` with its tags."""

    trunk: str | None = attr()
    tags: list[VlanTag] = children("tag", VlanTag)


@model("inbound")
class BandwidthRate(XmlModel):
    """``<inbound>``/``<outbound>`` rates (kilobytes per second, burst in kilobytes)."""

    average: str | None = attr()
    peak: str | None = attr()
    floor: str | None = attr()
    burst: str | None = attr()


@model("bandwidth")
class Bandwidth(XmlModel):
    """``<bandwidth>`` QoS limits."""

    classID: str | None = attr()
    inbound: BandwidthRate | None = child("inbound", BandwidthRate)
    outbound: BandwidthRate | None = child("outbound", BandwidthRate)


@model("port")
class PortOptions(XmlModel):
    """``<port isolated='yes'/>``."""

    isolated: str | None = attr()


@model("mtu")
class Mtu(XmlModel):
    """``<mtu size='9000'/>``."""

    size: str | None = attr()


@model("route")
class Route(XmlModel):
    """A static ``<route>``."""

    family: str | None = attr()
    address: str | None = attr()
    netmask: str | None = attr()
    prefix: str | None = attr()
    gateway: str | None = attr()
    metric: str | None = attr()


__all__ = [
    "Bandwidth",
    "BandwidthRate",
    "Mtu",
    "PortOptions",
    "Route",
    "VirtualPort",
    "VirtualPortParameters",
    "Vlan",
    "VlanTag",
]
