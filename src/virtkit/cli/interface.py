"""virsh's host-interface commands: iface-list, iface-dumpxml, iface-mac, iface-name,
iface-define, iface-undefine, iface-start, iface-destroy, iface-begin/commit/rollback."""

from __future__ import annotations

from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS
from virtkit.handles import Interface

__all__ = ["COMMANDS"]

_INACTIVE, _ACTIVE = 1, 2


def _lookup(ctl: Ctl, text: str, by_mac: bool = True) -> Interface:
    """virshCommandOptInterfaceBy: a MAC address (has ':') or a name."""
    with ctl.failing(f"failed to get interface '{text}'"):
        if by_mac and ":" in text:
            return ctl.conn.lookup_interface_by_mac(text)
        return ctl.conn.lookup_interface(text)


def cmd_iface_list(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _ACTIVE
    if cmd.flag("inactive"):
        flags = _INACTIVE
    if cmd.flag("all"):
        flags = _ACTIVE | _INACTIVE
    with ctl.failing("Failed to list interfaces"):
        idents = sorted(ctl.conn.list_interfaces(flags), key=lambda i: i.name)
        states = [i.is_active() for i in idents]
    if cmd.flag("json"):
        ctl.print(to_json([{"name": i.name, "active": a, "mac": i.mac}
                           for i, a in zip(idents, states, strict=True)]))
        return True
    rows = [[i.name, "active" if a else "inactive", i.mac]
            for i, a in zip(idents, states, strict=True)]
    ctl.print(format_table(["Name", "State", "MAC Address"], rows))
    return True


def cmd_iface_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    iface = _lookup(ctl, ctl.opt_required(cmd, "interface"))
    xml = iface.xml(1 if cmd.flag("inactive") else 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_iface_mac(ctl: Ctl, cmd: Cmd) -> bool:
    iface = _lookup(ctl, ctl.opt_required(cmd, "interface"), by_mac=False)
    ctl.print(f"{iface.mac}\n")
    return True


def cmd_iface_name(ctl: Ctl, cmd: Cmd) -> bool:
    text = ctl.opt_required(cmd, "interface")
    with ctl.failing(f"failed to get interface '{text}'"):
        iface = ctl.conn.lookup_interface_by_mac(text)
    ctl.print(f"{iface.name}\n")
    return True


def cmd_iface_define(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.common import read_file

    path = ctl.opt_required(cmd, "file")
    flags = 1 if cmd.flag("validate") else 0  # VIR_INTERFACE_DEFINE_VALIDATE
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to define interface from {path}"):
        iface = ctl.conn.define_interface(xml, flags)
    ctl.print_extra(f"Interface {iface.name} defined from {path}\n")
    return True


def _iface_action(ctl: Ctl, cmd: Cmd, action: str, failed: str, done: str) -> bool:
    """iface-undefine/start/destroy: look up by name or MAC, act, report with the given text."""
    text = ctl.opt_required(cmd, "interface")
    iface = _lookup(ctl, text)
    with ctl.failing(f"Failed to {failed} interface {text}"):
        getattr(iface, action)()
    ctl.print_extra(f"Interface {text} {done}\n")
    return True


def cmd_iface_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    return _iface_action(ctl, cmd, "undefine", "undefine", "undefined")


def cmd_iface_start(ctl: Ctl, cmd: Cmd) -> bool:
    return _iface_action(ctl, cmd, "start", "start", "started")


def cmd_iface_destroy(ctl: Ctl, cmd: Cmd) -> bool:
    return _iface_action(ctl, cmd, "destroy", "destroy", "destroyed")


def _transaction(ctl: Ctl, step: str, verb: str, done: str) -> bool:
    with ctl.failing(f"Failed to {verb} network config change transaction"):
        getattr(ctl.conn, f"interface_change_{step}")()
    ctl.print_extra(f"Network config change transaction {done}\n")
    return True


def cmd_iface_begin(ctl: Ctl, cmd: Cmd) -> bool:
    return _transaction(ctl, "begin", "begin", "started")


def cmd_iface_commit(ctl: Ctl, cmd: Cmd) -> bool:
    return _transaction(ctl, "commit", "commit", "committed")


def cmd_iface_rollback(ctl: Ctl, cmd: Cmd) -> bool:
    return _transaction(ctl, "rollback", "rollback", "rolled back")


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "interface"),
    {
        "iface-list": cmd_iface_list,
        "iface-dumpxml": cmd_iface_dumpxml,
        "iface-mac": cmd_iface_mac,
        "iface-name": cmd_iface_name,
        "iface-define": cmd_iface_define,
        "iface-undefine": cmd_iface_undefine,
        "iface-start": cmd_iface_start,
        "iface-destroy": cmd_iface_destroy,
        "iface-begin": cmd_iface_begin,
        "iface-commit": cmd_iface_commit,
        "iface-rollback": cmd_iface_rollback,
    },
    json_commands=("iface-list",),
)
