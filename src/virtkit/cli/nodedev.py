"""virsh's node device commands: nodedev-create, nodedev-destroy, nodedev-dumpxml,
nodedev-list (``--json``), nodedev-event, nodedev-info, and PCI assignment's
nodedev-detach, nodedev-reattach, nodedev-reset."""

from __future__ import annotations

from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS
from virtkit.errors import VirtError
from virtkit.handles.hostdev import NodeDevice

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from virtkit.events import EventHandle

__all__ = ["COMMANDS", "NODEDEV_EVENT_NAMES"]

_CREATE_VALIDATE = 1
_LIST_INACTIVE, _LIST_ACTIVE = 1 << 30, 1 << 31
# Indexed by virNodeDeviceEventID and virNodeDeviceEventLifecycleType.
NODEDEV_EVENT_NAMES = ("lifecycle", "update")
_LIFECYCLE = ("Created", "Deleted", "Defined", "Undefined")


def _find(ctl: Ctl, text: str) -> NodeDevice:
    """vshFindNodeDevice: a name, or a 'wwnn,wwpn' pair of a SCSI host."""
    failure = f"Could not find matching device '{text}'"
    if "," in text:
        parts = [p for p in text.split(",")]
        if len(parts) != 2:
            ctl.error(f"Malformed device value '{text}'")
            raise _Stop
        with ctl.failing(failure):
            return ctl.conn.lookup_scsi_host_by_wwn(parts[0], parts[1])
    with ctl.failing(failure):
        return ctl.conn.lookup_node_device(text)


class _Stop(Exception):
    """The command failed after printing its own error."""


def cmd_nodedev_create(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.common import read_file

    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = _CREATE_VALIDATE if cmd.flag("validate") else 0
    with ctl.failing(f"Failed to create node device from {path}"):
        dev = ctl.conn.create_node_device(xml, flags)
    ctl.print_extra(f"Node device {dev.name} created from {path}\n")
    return True


def cmd_nodedev_destroy(ctl: Ctl, cmd: Cmd) -> bool:
    text = ctl.opt_required(cmd, "device")
    try:
        dev = _find(ctl, text)
    except _Stop:
        return False
    with ctl.failing(f"Failed to destroy node device '{text}'"):
        dev.destroy()
    ctl.print_extra(f"Destroyed node device '{text}'\n")
    return True


def cmd_nodedev_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    text = ctl.opt_required(cmd, "device")
    try:
        dev = _find(ctl, text)
    except _Stop:
        return False
    xml = dev.xml()
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_nodedev_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.nodedev_caps import CAP_TYPES

    tree, inactive, every = cmd.flag("tree"), cmd.flag("inactive"), cmd.flag("all")
    cap_text = cmd.raw("cap")
    caps = [c.strip() for c in cap_text.split(",") if c.strip()] if cap_text else []
    if every and inactive:
        ctl.error("Option --all is incompatible with --inactive")
        return False
    if tree and (cap_text or inactive):
        ctl.error("Option --tree is incompatible with --cap and --inactive")
        return False
    flags = 0
    for cap in caps:
        if cap not in CAP_TYPES:
            ctl.error("Invalid capability type")
            return False
        flags |= 1 << CAP_TYPES.index(cap)
    if inactive or every:
        flags |= _LIST_INACTIVE
    if not inactive:
        flags |= _LIST_ACTIVE
    with ctl.failing("Failed to list node devices"):
        devices = ctl.conn.list_node_devices(flags)
    names = sorted((d.name for d in devices), key=str.lower)
    if cmd.flag("json"):
        return _list_json(ctl, devices, names)
    if not tree:
        for name in names:
            ctl.print(f"{name}\n")
        return True
    from virtkit.cli.snapshot import tree_lines

    by_name = {d.name: d for d in devices}
    parents = [None if n == "computer" else by_name[n].parent() for n in names]
    for i, parent in enumerate(parents):
        if parent is None:
            ctl.print("".join(f"{line}\n" for line in tree_lines(names, parents, i)))
    return True


def _list_json(ctl: Ctl, devices: list[NodeDevice], names: list[str]) -> bool:
    """nodedev-list --json: name, parent (null for the root) and capabilities of each
    device, in the listing's order (the parents carry what --tree draws)."""
    from virtkit.cli.output import to_json

    by_name = {d.name: d for d in devices}
    rows = []
    for name in names:
        dev = by_name[name]
        with ctl.failing("Failed to list node devices"):
            parent = None if name == "computer" else dev.parent()
            caps = dev.caps()
        rows.append({"name": name, "parent": parent, "capabilities": caps})
    ctl.print(to_json(rows))
    return True


def _pci_call(ctl: Ctl, cmd: Cmd, verb: str, call: Callable[[NodeDevice], None],
              done: str) -> bool:
    """Look the device up by name (no 'wwnn,wwpn' form), run ``call``, say ``done``."""
    name = ctl.opt_required(cmd, "device")
    with ctl.failing(f"Could not find matching device '{name}'"):
        dev = ctl.conn.lookup_node_device(name)
    with ctl.failing(f"Failed to {verb} device {name}"):
        call(dev)
    ctl.print_extra(f"Device {name} {done}\n")
    return True


def cmd_nodedev_detach(ctl: Ctl, cmd: Cmd) -> bool:
    """virsh's cmdNodeDeviceDetach: virNodeDeviceDetachFlags with --driver, else
    virNodeDeviceDettach."""
    driver = cmd.raw("driver") or None  # vshCommandOptStringQuiet: "" is no driver
    return _pci_call(ctl, cmd, "detach", lambda dev: dev.detach(driver), "detached")


def cmd_nodedev_reattach(ctl: Ctl, cmd: Cmd) -> bool:
    return _pci_call(ctl, cmd, "re-attach", NodeDevice.reattach, "re-attached")


def cmd_nodedev_reset(ctl: Ctl, cmd: Cmd) -> bool:
    return _pci_call(ctl, cmd, "reset", NodeDevice.reset, "reset")


def cmd_nodedev_event(ctl: Ctl, cmd: Cmd) -> bool:
    """virsh's cmdNodeDeviceEvent.  Unlike pool-event and net-event, a --device that is
    empty or names no device ends the command."""
    from virtkit.cli.poolmisc import run_event_command

    def find(ctl: Ctl, name: str) -> Any:  # by name only: no 'wwnn,wwpn' form here
        with ctl.failing(f"Could not find matching device '{name}'"):
            return ctl.conn.lookup_node_device(name)

    def subscribe(event_id: int, wanted: str, dev: Any,
                  emit: Callable[[str], None]) -> EventHandle:
        def callback(obj: Any, eid: int, *payload: Any) -> None:
            if eid == 0:
                event = int(payload[0]) if payload else -1
                what = _LIFECYCLE[event] if 0 <= event < len(_LIFECYCLE) else "unknown"
                emit(f"event 'lifecycle' for node device {obj.name}: {what}\n")
            else:
                emit(f"event '{wanted}' for node device {obj.name}\n")

        return ctl.conn.on_node_device_event(callback, event_id, dev)

    return run_event_command(ctl, cmd, NODEDEV_EVENT_NAMES, "device", find, subscribe,
                             missing_object_ends=True)


def cmd_nodedev_info(ctl: Ctl, cmd: Cmd) -> bool:
    text = ctl.opt_required(cmd, "device")
    try:
        dev = _find(ctl, text)
    except _Stop:
        return False

    def answer(call: str) -> object:
        # virsh prints "yes" for a call that fails (-1 is true), "no autostart" for autostart
        try:
            return getattr(dev, call)()
        except VirtError:
            return None

    parent = answer("parent")
    active, persistent = answer("is_active"), answer("is_persistent")
    ctl.print(f"{'Name:':<15} {dev.name}\n")
    ctl.print(f"{'Parent:':<15} {parent or ''}\n")
    ctl.print(f"{'Active:':<15} {'no' if active is False else 'yes'}\n")
    ctl.print(f"{'Persistent:':<15} {'no' if persistent is False else 'yes'}\n")
    try:
        autostart = dev.autostart
        ctl.print(f"{'Autostart:':<15} {'yes' if autostart else 'no'}\n")
    except VirtError:
        ctl.print(f"{'Autostart:':<15} no autostart\n")
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "nodedev"),
    {
        "nodedev-create": cmd_nodedev_create,
        "nodedev-destroy": cmd_nodedev_destroy,
        "nodedev-dumpxml": cmd_nodedev_dumpxml,
        "nodedev-list": cmd_nodedev_list,
        "nodedev-event": cmd_nodedev_event,
        "nodedev-info": cmd_nodedev_info,
        "nodedev-detach": cmd_nodedev_detach,
        "nodedev-reattach": cmd_nodedev_reattach,
        "nodedev-reset": cmd_nodedev_reset,
    },
    json_commands=("nodedev-list",),
)
