"""virDomainUpdateDeviceFlags on the QEMU driver (libvirt 9.0's qemuDomainUpdateDeviceFlags).

Live: a CD-ROM's medium (``blockdev-open-tray`` / ``blockdev-remove-medium`` /
``blockdev-add`` + ``blockdev-insert-medium`` / ``blockdev-close-tray``, as
qemuDomainChangeMediaBlockdev; QEMU's DEVICE_TRAY_MOVED events become TRAY_CHANGE
events in node.py); an interface's ``<link state>`` (``set_link``), ``<bandwidth>`` (tc on
its tap, netif.change_bandwidth) and ``<filterref>`` (the nwfilter binding of its tap); a
graphics password and its expiry (``set_password`` / ``expire_password``). Other changes
are refused with libvirt's "cannot modify ..." errors. Config: the device replaces its
match in the persistent definition, which must still be one start accepts
(``command.check_supported``).
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import TYPE_CHECKING, Any

from virtkit.conf.devices import device_from_xml
from virtkit.constants import DomainDeviceModifyFlags, DomainEventID, DomainEventTrayChangeReason
from virtkit.drivers.qemu import command, netif
from virtkit.drivers.qemu.defs import copy_def
from virtkit.drivers.qemu.metadata import modification_impact
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["update"]

_FORCE = int(DomainDeviceModifyFlags.FORCE)
_TRAY_WAIT = 5.0  # libvirt's CHANGE_MEDIA_TIMEOUT
_REMOVABLE = ("cdrom", "floppy")


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


def _parse(xml: str) -> tuple[str, Any]:
    from virtkit.conf.dev_disk import Disk
    from virtkit.conf.dev_net import Interface
    from virtkit.conf.domain_postparse import disk_defaults, interface_defaults

    kind, dev = device_from_xml(xml)
    if isinstance(dev, Disk):
        disk_defaults(dev)
    elif isinstance(dev, Interface):
        interface_defaults(dev)
    return kind, dev


def update(node: QemuNode, dom: QemuDomain, xml: str, flags: int) -> None:
    """qemuDomainUpdateDeviceFlags: the config copy is changed first, then the live
    domain, then the config is saved."""
    with dom.job:
        live, config = modification_impact(dom, flags)
        newdef = None
        if config:
            assert dom.persistent is not None
            newdef = copy_def(dom.persistent)
            _update_config(newdef, *_parse(xml))
            command.check_supported(newdef, spice=node.spice)
        if live:
            _update_live(node, dom, *_parse(xml), bool(flags & _FORCE))
            node._save_status(dom)
        if newdef is not None:
            node.configs.save(dom.name, newdef.to_xml(), dom.uuid)
            dom.persistent = newdef
    node.events.flush()


# ------------------------------------------------------------------ config


def _devices(d: Any) -> Any:
    if d.devices is None:
        from virtkit.conf.devices import Devices

        d.devices = Devices()
    return d.devices


def _update_config(d: Any, kind: str, dev: Any) -> None:
    """qemuDomainUpdateDeviceConfig: replace the matching disk, graphics or interface."""
    devices = _devices(d)
    if kind == "disk":
        target = dev.target.dev if dev.target is not None else None
        for i, x in enumerate(devices.disks):
            if x.target is not None and x.target.dev == target:
                devices.disks[i] = dev
                return
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                         f"target {target} doesn't exist.")
    if kind == "graphics":
        for i, g in enumerate(devices.graphics):
            if g.type == dev.type:
                devices.graphics[i] = dev
                return
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                         f"cannot find existing graphics type '{dev.type}' device to modify")
    if kind == "interface":
        devices.interfaces[_net_index(devices.interfaces, dev)] = dev
        return
    raise _err(ErrorCode.OPERATION_UNSUPPORTED,
               f"persistent update of device '{kind}' is not supported")


def _mac(iface: Any) -> str | None:
    return iface.mac.address.lower() if iface.mac is not None and iface.mac.address else None


def _pci(iface: Any) -> tuple[str, ...] | None:
    a = iface.address
    if a is None or a.type != "pci":
        return None
    return tuple(str(int(str(v), 0)) for v in (a.domain or "0", a.bus or "0", a.slot or "0",
                                                a.function or "0"))


def _net_index(ifaces: list[Any], dev: Any) -> int:
    """virDomainNetFindIdx: by MAC (when given) and PCI address (when given)."""
    mac, pci = _mac(dev), _pci(dev)
    found = [i for i, x in enumerate(ifaces)
             if (mac is None or _mac(x) == mac) and (pci is None or _pci(x) == pci)]
    if len(found) > 1:
        if mac is not None:
            raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                             f"multiple devices matching MAC address {mac} found")
        raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                         "multiple matching devices found")
    if found:
        return found[0]
    addr = ("{:04x}:{:02x}:{:02x}.{}".format(*(int(x) for x in pci)) if pci is not None
            else "(<null>)")
    alias = dev.alias.name if dev.alias is not None and dev.alias.name else "(<null>)"
    raise make_error(ErrorCode.DEVICE_MISSING, ErrorDomain.DOMAIN,
                     f"no device found at address '{addr}' matching MAC address "
                     f"'{mac or '(<null>)'}' and alias '{alias}'")


# ------------------------------------------------------------------ live


def _update_live(node: QemuNode, dom: QemuDomain, kind: str, dev: Any, force: bool) -> None:
    """qemuDomainUpdateDeviceLive."""
    if kind == "disk":
        _change_disk(node, dom, dev, force)
    elif kind == "graphics":
        _change_graphics(node, dom, dev)
    elif kind == "interface":
        _change_net(node, dom, dev)
    else:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"live update of device '{kind}' is not supported")


def _location(disk: Any, volumes: Any) -> tuple[str, str | None]:
    try:
        return command.disk_source(disk, volumes)
    except VirtError:
        src = disk.source
        return str(disk.type), (f"{src.pool}/{src.volume}" if src is not None else None)


def _tray(disk: Any) -> str:
    return (disk.target.tray if disk.target is not None else None) or "closed"


def _check_disk_change(new: Any, old: Any) -> None:
    """qemuDomainDiskChangeSupported, for the fields virtkit models."""
    def refuse(name: str) -> VirtError:
        return _err(ErrorCode.OPERATION_UNSUPPORTED, f"cannot modify field '{name}' of the disk")

    if (new.device or "disk") != (old.device or "disk"):
        raise refuse("device")
    if (new.target.bus if new.target else None) != (old.target.bus if old.target else None):
        raise refuse("bus")
    if new.target is not None and new.target.tray and new.target.tray != _tray(old):
        raise refuse("tray")
    if new.serial and new.serial != old.serial:
        raise refuse("serial")
    if bool(new.readonly) != bool(old.readonly):
        raise refuse("readonly")
    if bool(new.shareable) != bool(old.shareable):
        raise refuse("shareable")


def _change_disk(node: QemuNode, dom: QemuDomain, new: Any, force: bool) -> None:
    """qemuDomainChangeDiskLive: only a removable drive's source can change."""
    d = dom.live
    assert d is not None
    target = new.target.dev if new.target is not None else None
    old = next((x for x in _devices(d).disks
                if x.target is not None and x.target.dev == target), None)
    if old is None:
        raise _err(ErrorCode.INTERNAL_ERROR, f"disk '{target}' not found")
    _check_disk_change(new, old)
    volumes = {**dom.volumes, **node.translate_volumes(d, [new])} if new.type == "volume" \
        else dom.volumes
    if _location(new, volumes) == _location(old, dom.volumes) and \
            (new.type or "file") == (old.type or "file"):
        return
    if (old.device or "disk") not in _REMOVABLE:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   "disk source can be changed only in removable drives")
    command.check_supported(new, "domain/devices", node.spice)
    _change_media(dom, old, new, volumes, force)


def _change_media(dom: QemuDomain, old: Any, new: Any, volumes: Any, force: bool) -> None:
    """qemuDomainChangeMediaBlockdev: open the tray (waiting for the guest to let it open
    unless forced), remove the medium and its nodes, add and insert the new one, close."""
    mon, d, cmd = dom.mon, dom.live, dom.command
    assert mon is not None and d is not None
    alias = old.alias.name if old.alias is not None else None
    target = str(old.target.dev)
    if not alias:
        raise _err(ErrorCode.INTERNAL_ERROR, f"missing disk device alias name for {target}")
    nodes = cmd.disks.get(target) if cmd is not None else None
    new_path = command.disk_source(new, volumes)[1]
    used = [int(getattr(getattr(x, "source", None), "index", None) or 0)
            for x in _devices(d).disks]
    for n in cmd.disks.values() if cmd is not None else ():
        parts = str(n.storage_node or "").split("-")  # libvirt-N-storage
        if len(parts) == 3 and parts[0] == "libvirt" and parts[1].isdigit():
            used.append(int(parts[1]))
    index = 1 + max([*used, len(_devices(d).disks)])
    new_nodes = command.disk_blockdev_args(new, index, volumes) if new_path else []
    if _tray(old) != "open":
        mon.execute("blockdev-open-tray", {"id": alias, "force": force})
        if not force:
            deadline = time.monotonic() + _TRAY_WAIT
            while _tray(old) != "open" and time.monotonic() < deadline:
                time.sleep(0.02)
            if _tray(old) != "open":
                raise _err(ErrorCode.OPERATION_FAILED,
                           f"timed out waiting to open tray of '{target}'")
    mon.execute("blockdev-remove-medium", {"id": alias})
    for name in (nodes.format_node, nodes.storage_node) if nodes is not None else ():
        if name:
            with contextlib.suppress(VirtError):
                mon.execute("blockdev-del", {"node-name": name})
    added: list[str] = []
    try:
        for props in new_nodes:
            mon.execute("blockdev-add", props)
            added.append(props["node-name"])
        if new_nodes:
            mon.execute("blockdev-insert-medium", {"id": alias,
                                                   "node-name": new_nodes[-1]["node-name"]})
        mon.execute("blockdev-close-tray", {"id": alias})
    except BaseException:
        for name in reversed(added):
            with contextlib.suppress(VirtError):
                mon.execute("blockdev-del", {"node-name": name})
        _set_source(dom, old, None, None, volumes)
        raise
    _set_source(dom, old, new, new_nodes, volumes)


def _set_source(dom: QemuDomain, old: Any, new: Any, nodes: list[dict[str, Any]] | None,
                volumes: Any) -> None:
    """The live disk now holds ``new``'s source (None: no medium)."""
    target = str(old.target.dev)
    if new is None or not nodes:  # no medium: no <source> (whatever the client sent)
        old.source = None
    else:
        old.type = new.type
        old.source = copy.deepcopy(new.source)
        if new.driver is not None and new.driver.type and old.driver is not None:
            old.driver.type = new.driver.type
        if old.source is not None:  # the client's index is not read (INACTIVE parse)
            old.source.index = nodes[0]["node-name"].split("-")[1]
        dom.volumes = dict(volumes)
    cmd = dom.command
    if cmd is not None and old.alias is not None:
        cmd.disks[target] = command.DiskNodes(
            old.alias.name, target, nodes[0]["node-name"] if nodes else None,
            nodes[-1]["node-name"] if nodes else None)


def _link(iface: Any) -> str | None:
    return iface.link.state if iface.link is not None else None


def _filter(iface: Any) -> Any:
    ref = iface.filterref
    if ref is None:
        return None
    return ref.filter, sorted((p.name, p.value) for p in ref.parameters)


def _field(obj: Any, *path: str) -> Any:
    for name in path:
        obj = getattr(obj, name, None) if obj is not None else None
    return obj


def _change_net(node: QemuNode, dom: QemuDomain, new: Any) -> None:
    """qemuDomainChangeNet: link state and filter changes; everything else must stay."""
    d, mon = dom.live, dom.mon
    assert d is not None and mon is not None
    ifaces = _devices(d).interfaces
    old = ifaces[_net_index(ifaces, new)]

    def refuse(what: str) -> VirtError:
        return _err(ErrorCode.OPERATION_UNSUPPORTED, what)

    old_model, new_model = _field(old, "model", "type"), _field(new, "model", "type")
    if old_model != new_model:
        raise refuse(f"cannot modify network device model from {old_model or '(null)'} "
                     f"to {new_model or '(null)'}")
    if _field(old, "script", "path") != _field(new, "script", "path"):
        raise refuse("cannot modify network device script attribute")
    if new.target is None or not new.target.dev:
        new.target = copy.deepcopy(old.target)
    if _field(old, "target", "dev") != _field(new, "target", "dev"):
        raise refuse("cannot modify network device tap name")
    if new.address is None:
        new.address = copy.deepcopy(old.address)
    if _pci(old) != _pci(new):
        raise refuse("cannot modify network device guest PCI address")
    if _field(old, "boot", "order") != _field(new, "boot", "order") and new.boot is not None:
        raise refuse("cannot modify network device boot index setting")
    if _field(old, "mtu", "size") != _field(new, "mtu", "size"):
        raise refuse("cannot modify MTU")
    if (old.type != new.type or _field(old, "source", "network") != _field(new, "source",
                                                                            "network")
            or _field(old, "source", "bridge") != _field(new, "source", "bridge")):
        raise refuse(f"unable to change config on '{new.type}' network type")
    # <vlan>, <coalesce> ...: refused as define refuses them
    command.check_supported(new, "domain/devices", node.spice)
    netif.change_bandwidth(old, new)  # tc on the tap; the live XML takes the new one
    old.bandwidth = copy.deepcopy(new.bandwidth)
    if _filter(old) != _filter(new):
        _change_filter(node, d, old, new)
        old.filterref = copy.deepcopy(new.filterref)
    if (_link(old) or "up") != (_link(new) or "up"):
        alias = old.alias.name if old.alias is not None else None
        if not alias:
            raise _err(ErrorCode.OPERATION_FAILED,
                       "can't change link state: device alias not found")
        mon.execute("set_link", {"name": alias, "up": _link(new) != "down"})
    old.link = copy.deepcopy(new.link)


def _change_filter(node: QemuNode, d: Any, old: Any, new: Any) -> None:
    """qemuDomainChangeNetFilter: the tap's binding goes, the new filter (if any) comes;
    on failure the old rules are put back."""
    if new.type not in ("ethernet", "bridge", "network"):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"filters not supported on interfaces of type {new.type}")
    from virtkit.drivers import domain_nwfilter as hook
    from virtkit.drivers.qemu.hotplug import _Holder

    tap = _field(old, "target", "dev")
    if node.nwfilter is None or not tap:
        if new.filterref is not None:
            raise _err(ErrorCode.OPERATION_FAILED,
                       f"failed to add new filter rules to '{tap}' - attempting to restore "
                       "old rules")
        return
    node._teardown_filters([str(tap)])
    if new.filterref is None:
        return
    try:
        hook.instantiate(node.nwfilter, _Holder(new, d.name, d.uuid))
    except VirtError:
        with contextlib.suppress(VirtError):
            hook.instantiate(node.nwfilter, _Holder(old, d.name, d.uuid))
        raise _err(ErrorCode.OPERATION_FAILED,
                   f"failed to add new filter rules to '{tap}' - attempting to restore "
                   "old rules") from None


def _listens(g: Any) -> list[tuple[str | None, str | None]]:
    """(type, address, network or socket) of each listen; without ``<listen>``, the one
    libvirt's parser makes from the legacy attributes (an address, maybe none)."""
    if g.listens:
        # a network listen compares by its network (the live one has the address too)
        return [(x.type or "address", x.network if x.type == "network"
                 else x.address or x.socket) for x in g.listens]
    if g.type not in ("vnc", "spice"):
        return []
    return [("socket", g.socket)] if g.socket else [("address", g.listen)]


def _autoport(g: Any) -> bool:
    return g.autoport == "yes" or g.port in (None, "-1")


def _change_graphics(node: QemuNode, dom: QemuDomain, new: Any) -> None:
    """qemuDomainChangeGraphics: only the password, its expiry and ``connected``."""
    from virtkit.drivers.qemu.command_spice import default_password, password_commands

    d, mon = dom.live, dom.mon
    assert d is not None and mon is not None
    kind = new.type
    old = next((g for g in _devices(d).graphics if g.type == kind), None)
    if old is None:
        raise _err(ErrorCode.DEVICE_MISSING,
                   f"cannot find existing graphics device to modify of type '{kind}'")
    new_listens, old_listens = _listens(new), _listens(old)
    if len(new_listens) != len(old_listens):
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"cannot change the number of listen addresses on '{kind}' graphics")
    for (new_type, new_value), (old_type, old_value) in zip(new_listens, old_listens,
                                                            strict=True):
        if new_type != old_type:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       f"cannot change the type of listen address on '{kind}' graphics")
        what = "socket" if new_type == "socket" else "address"
        if new_value != old_value:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       f"cannot change listen {what} setting on '{kind}' graphics")
    if kind not in ("vnc", "spice"):
        raise _err(ErrorCode.INTERNAL_ERROR, f"unable to change config on '{kind}' graphics type")
    autoport_new = _autoport(new)
    if _autoport(old) != autoport_new or (not autoport_new and (
            new.port != old.port or (kind == "spice" and new.tlsPort != old.tlsPort))):
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"cannot change port settings on {kind} graphics")
    if old.keymap != new.keymap:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"cannot change keymap setting on {kind} graphics")
    # what start refuses (a VNC password ...)
    command.check_supported(new, "domain/devices", node.spice)
    if (old.passwdValidTo or new.passwdValidTo or old.connected != new.connected
            or (kind == "spice" and new.connected == "disconnect")
            or old.passwd != new.passwd):
        for name, args in password_commands(new, default_password(new, node.spice)):
            mon.execute(name, args)
        old.passwd = new.passwd
        old.passwdValidTo = new.passwdValidTo
        old.connected = new.connected


def tray_moved(node: QemuNode, dom: QemuDomain, data: dict[str, Any]) -> None:
    """qemuProcessHandleTrayChange (QEMU's DEVICE_TRAY_MOVED, under the domain lock): the
    disk's tray status, the status file, and the TRAY_CHANGE event with the disk's alias."""
    d = dom.live
    if d is None:
        return
    device = str(data.get("device") or "")
    qdev = str(data.get("id") or "")
    names = {n for n in (device.removeprefix("drive-"), qdev.rsplit("/", 1)[-1]) if n}
    disk = next((x for x in _devices(d).disks
                 if x.alias is not None and x.alias.name in names), None)
    if disk is None:
        return
    opened = bool(data.get("tray-open"))
    if disk.target is not None:
        disk.target.tray = "open" if opened else None
    node._save_status_locked(dom)
    reason = DomainEventTrayChangeReason.OPEN if opened else DomainEventTrayChangeReason.CLOSE
    node.emit_other(dom, int(DomainEventID.TRAY_CHANGE), (disk.alias.name, int(reason)))
