"""Attaching and detaching disks and interfaces, live (QMP) and in the persistent config.

Live attach: ``blockdev-add`` (storage, then format node) + ``device_add`` for a
disk, ``netdev_add`` + ``device_add`` for an interface, with the same argument
builders the command line uses, at a PCI slot free for hot-plug. Live detach:
``device_del``, then wait for QEMU's DEVICE_DELETED (the guest must let go),
then remove the backend. ``flags`` are libvirt's: CURRENT=0, LIVE=1, CONFIG=2.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any, cast

from virtkit.conf.devices import device_from_xml
from virtkit.drivers.qemu import command, diskfds, netif
from virtkit.drivers.qemu.defs import copy_def
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["attach", "detach"]

_LIVE, _CONFIG = 1, 2
_DETACH_WAIT = 5.0  # libvirt's default wait for the guest to release a device


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


def _targets(node: QemuNode, dom: QemuDomain, flags: int) -> tuple[bool, bool]:
    """Which definitions to change: (live, config), as virDomainObjUpdateModificationImpact."""
    live, config = bool(flags & _LIVE), bool(flags & _CONFIG)
    if not live and not config:
        live, config = dom.active, not dom.active
    # reported from libvirt's domain_conf.c: VIR_FROM_DOMAIN
    if live and not dom.active:
        raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN, "domain is not running")
    if config and dom.persistent is None:
        raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                         "transient domains do not have any persistent config")
    return live, config


def _kind(xml: str) -> tuple[str, Any]:
    from virtkit.conf.dev_disk import Disk
    from virtkit.conf.dev_net import Interface
    from virtkit.conf.domain_postparse import disk_defaults, interface_defaults

    kind, dev = device_from_xml(xml)
    if kind not in ("disk", "interface"):
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"live attach of device '{kind}' is not supported")
    if isinstance(dev, Disk):
        disk_defaults(dev)
    elif isinstance(dev, Interface):
        interface_defaults(dev)
    return kind, dev


class _Holder:
    """A one-interface stand-in for a definition (what netif and the nwfilter hook read)."""

    def __init__(self, iface: Any, name: str | None = None, uuid: str | None = None) -> None:
        from virtkit.conf.devices import Devices

        self.devices = Devices()
        self.devices.interfaces.append(iface)
        self.name = name
        self.uuid = uuid


def _devices(d: Any) -> Any:
    """The definition's <devices> (post-parse always gives one)."""
    if d.devices is None:
        from virtkit.conf.devices import Devices

        d.devices = Devices()
    return d.devices


def _family(d: Any) -> str:
    machine = d.os.type.machine if d.os and d.os.type and d.os.type.machine else "pc"
    return command.machine_family(machine)


def attach(node: QemuNode, dom: QemuDomain, xml: str, flags: int) -> None:
    with dom.job:
        live, config = _targets(node, dom, flags)
        kind, dev = _kind(xml)
        if config:
            assert dom.persistent is not None
            newdef = copy_def(dom.persistent)
            _add_device(newdef, kind, _kind(xml)[1])
            node.configs.save(dom.name, newdef.to_xml(), dom.uuid)
            dom.persistent = newdef
        if live:
            _attach_live(node, dom, kind, dev)
            node._save_status(dom)


def _add_device(d: Any, kind: str, dev: Any) -> None:
    devices = _devices(d)
    if kind == "disk":
        _check_duplicate_disk(devices.disks, dev)
        devices.disks.append(dev)
    else:
        devices.interfaces.append(dev)


def _disk_source(disk: Any) -> str:
    src = disk.source
    path = next((getattr(src, k, None) for k in ("file", "dev", "dir", "name", "volume")
                 if getattr(src, k, None)), None) if src is not None else None
    return str(path) if path else "<null>"


def _check_duplicate_disk(disks: list[Any], dev: Any) -> None:
    """libvirt's virDomainDiskDefCheckDuplicateInfo (VIR_FROM_DOMAIN)."""
    target = dev.target.dev if dev.target is not None else None
    for x in disks:
        if x.target is not None and x.target.dev == target:
            raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                             f"target '{target}' duplicated for disk sources "
                             f"'{_disk_source(x)}' and '{_disk_source(dev)}'")


def _attach_live(node: QemuNode, dom: QemuDomain, kind: str, dev: Any) -> None:
    d, mon = dom.live, dom.mon
    assert d is not None and mon is not None
    family = _family(d)
    command.check_supported(dev)
    if dev.address is None and (kind == "interface" or (dev.target is not None
                                                          and dev.target.bus == "virtio")):
        dev.address = command.free_hotplug_address(d)
    if kind == "disk":
        _check_duplicate_disk(_devices(d).disks, dev)
        alias = command.disk_alias(dev, family)
        index = 1 + max([int(getattr(getattr(x, "source", None), "index", None) or 0)
                         for x in _devices(d).disks] + [len(_devices(d).disks)])
        volumes = {**dom.volumes, **node.translate_volumes(d, [dev])}
        fdset = None  # a <source fdgroup> disk: the group's descriptors as a new fd set
        if diskfds.fdgroup_of(dev) is not None:
            fdset = diskfds.prepare_disk(dev, node.fd_groups, dom.uuid,
                                         diskfds.next_set_id(mon))
        try:
            nodes = command.disk_blockdev_args(dev, index, volumes, fdset=fdset)
            fmt = nodes[-1]["node-name"] if nodes else None
            device_args = command.disk_device_args(dev, alias, family, fmt)
        except BaseException:
            diskfds.close([fdset] if fdset is not None else [])
            raise
        # Written ahead: the status names the disk before QEMU gets it, so a daemon killed
        # in between finds it in the status and keeps it only if QEMU has the device
        # (recovery.reconcile_devices); QEMU never holds a device the status lacks, which
        # a later save image would carry and a restore from the status would not expect.
        command._set_alias(dev, alias)
        if nodes and dev.source is not None:
            dev.source.index = str(index)  # as at start: the live XML shows it
        _devices(d).disks.append(dev)
        old_volumes, dom.volumes = dom.volumes, volumes
        target = dev.target.dev if dev.target is not None else None
        if dom.command is not None and target is not None:
            dom.command.disks[target] = command.DiskNodes(
                alias, target, nodes[0]["node-name"] if nodes else None, fmt)
        node._save_status(dom)
        added: list[str] = []
        try:
            if fdset is not None:
                try:
                    diskfds.transfer_monitor(mon, fdset, nodes[0]["node-name"])
                finally:  # QEMU holds its own copies now
                    diskfds.close([fdset])
            for props in nodes:
                mon.execute("blockdev-add", props)
                added.append(props["node-name"])
            mon.execute("device_add", device_args)
        except BaseException:
            for name in reversed(added):
                with contextlib.suppress(VirtError):
                    mon.execute("blockdev-del", {"node-name": name})
            if fdset is not None:
                diskfds.remove_set(mon, fdset.set_id)
            _devices(d).disks.remove(dev)
            dom.volumes = old_volumes
            if dom.command is not None and target is not None:
                dom.command.disks.pop(target, None)
            node._save_status(dom)
            raise
    else:
        n = len(_devices(d).interfaces)
        used = {x.alias.name for x in _devices(d).interfaces if x.alias is not None}
        while f"net{n}" in used:
            n += 1
        alias, netdev = f"net{n}", f"hostnet{n}"
        if dev.mac is None or not dev.mac.address:
            from virtkit.conf.dev_net import Mac

            dev.mac = dev.mac or Mac()
            dev.mac.address = "52:54:00:" + ":".join(f"{b:02x}" for b in os.urandom(3))
        holder = _Holder(dev)  # a network port and a tap (on its bridge) first, as at start
        node._plug_ports(dom, cast(Any, holder))
        try:
            taps = netif.prepare_taps(holder, node.network_resolver)
        except BaseException:
            node._release_ports(cast(Any, holder))
            raise
        # written ahead, as disks are (see above)
        command._set_alias(dev, alias)
        _devices(d).interfaces.append(dev)
        if dom.command is not None:
            dom.command.netdevs[alias] = netdev
        node._save_status(dom)
        try:
            if node.nwfilter is not None:
                from virtkit.drivers import domain_nwfilter as hook

                hook.instantiate(node.nwfilter, _Holder(dev, d.name, d.uuid))
            mon.execute("netdev_add", command.net_netdev_args(dev, netdev))
            try:
                mon.execute("device_add", command.net_device_args(dev, alias, netdev, family))
            except VirtError:
                mon.execute("netdev_del", {"id": netdev})
                raise
            if dev.link is not None and dev.link.state == "down":
                # qemuDomainAttachNetDevice: the new NIC's link goes down right away
                try:
                    mon.execute("set_link", {"name": alias, "up": False})
                except VirtError:
                    with contextlib.suppress(VirtError):
                        mon.execute("device_del", {"id": alias})
                    raise
        except BaseException:
            node._teardown_filters(taps)
            netif.delete_taps(taps)
            node._release_ports(cast(Any, holder))
            _devices(d).interfaces.remove(dev)
            if dom.command is not None:
                dom.command.netdevs.pop(alias, None)
            node._save_status(dom)
            raise
    if dom.command is not None:
        dom.command.aliases[alias] = dev


def _find(devs: list[Any], kind: str, dev: Any) -> Any:
    for x in devs:
        if kind == "disk":
            if x.target is not None and dev.target is not None and x.target.dev == dev.target.dev:
                return x
        else:
            mac = dev.mac.address.lower() if dev.mac is not None and dev.mac.address else None
            xmac = x.mac.address.lower() if x.mac is not None and x.mac.address else None
            if mac is None or mac == xmac:
                return x
    if kind == "disk":
        raise _err(ErrorCode.DEVICE_MISSING,
                   f"disk {dev.target.dev if dev.target is not None else ''} not found")
    mac = dev.mac.address if dev.mac is not None and dev.mac.address else ""
    raise _err(ErrorCode.DEVICE_MISSING, f"no device matching MAC address {mac} found")


def detach(node: QemuNode, dom: QemuDomain, xml: str, flags: int) -> None:
    with dom.job:
        live, config = _targets(node, dom, flags)
        kind, dev = _kind(xml)
        if config:
            assert dom.persistent is not None
            newdef = copy_def(dom.persistent)
            lst = _devices(newdef).disks if kind == "disk" else _devices(newdef).interfaces
            lst.remove(_find(lst, kind, dev))
            node.configs.save(dom.name, newdef.to_xml(), dom.uuid)
            dom.persistent = newdef
        if live:
            _detach_live(node, dom, kind, dev)
            node._save_status(dom)


def _detach_live(node: QemuNode, dom: QemuDomain, kind: str, dev: Any) -> None:
    d, mon = dom.live, dom.mon
    assert d is not None and mon is not None
    lst = _devices(d).disks if kind == "disk" else _devices(d).interfaces
    found = _find(lst, kind, dev)
    alias = found.alias.name if found.alias is not None else None
    if not alias:
        raise _err(ErrorCode.OPERATION_FAILED, "device has no alias")
    dom.removed.discard(alias)
    mon.execute("device_del", {"id": alias})
    deadline = time.monotonic() + _DETACH_WAIT
    while alias not in dom.removed and time.monotonic() < deadline:
        time.sleep(0.02)
    if alias not in dom.removed:
        raise _err(ErrorCode.OPERATION_TIMEOUT,
                   f"the guest did not release device '{alias}' in time "
                   "(it will be removed when it does)")
    lst.remove(found)
    cmd = dom.command
    if kind == "disk" and cmd is not None and found.target is not None:
        nodes = cmd.disks.pop(found.target.dev, None)
        for name in (nodes.format_node, nodes.storage_node) if nodes else ():
            if name:
                with contextlib.suppress(VirtError):
                    mon.execute("blockdev-del", {"node-name": name})
        if nodes is not None and nodes.storage_node and diskfds.fdgroup_of(found):
            diskfds.remove_sets_of(mon, nodes.storage_node)
    elif cmd is not None:
        netdev = cmd.netdevs.pop(alias, None)
        if netdev:
            with contextlib.suppress(VirtError):
                mon.execute("netdev_del", {"id": netdev})
    if kind == "interface":
        taps = netif.taps_of(_Holder(found))
        node._teardown_filters(taps)
        netif.delete_taps(taps)
        node._release_ports(cast(Any, _Holder(found)))
    if cmd is not None:
        cmd.aliases.pop(alias, None)
