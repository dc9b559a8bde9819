"""virsh's host-interface commands: iface-list, iface-dumpxml, iface-mac, iface-name."""

from __future__ import annotations

from typing import Any

from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS
from virtkit.types import InterfaceIdent

__all__ = ["COMMANDS"]

_INACTIVE, _ACTIVE = 1, 2


def _table(ctl: Ctl) -> Any:
    return ctl.conn.tables.interface


def _lookup(ctl: Ctl, text: str, by_mac: bool = True) -> InterfaceIdent:
    """virshCommandOptInterfaceBy: a MAC address (has ':') or a name."""
    drv = _table(ctl)
    with ctl.failing(f"failed to get interface '{text}'"):
        if by_mac and ":" in text:
            ident: InterfaceIdent = drv.interface_lookup_by_mac_string(text)
        else:
            ident = drv.interface_lookup_by_name(text)
    return ident


def cmd_iface_list(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _ACTIVE
    if cmd.flag("inactive"):
        flags = _INACTIVE
    if cmd.flag("all"):
        flags = _ACTIVE | _INACTIVE
    drv = _table(ctl)
    with ctl.failing("Failed to list interfaces"):
        idents = sorted(drv.connect_list_all_interfaces(flags), key=lambda i: i.name)
        states = [drv.interface_is_active(i) for i in idents]
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

    ident = _lookup(ctl, ctl.opt_required(cmd, "interface"))
    with ctl.failing(f"failed to get interface '{ident.name}'"):
        xml = _table(ctl).interface_get_xml_desc(ident, 1 if cmd.flag("inactive") else 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_iface_mac(ctl: Ctl, cmd: Cmd) -> bool:
    ident = _lookup(ctl, ctl.opt_required(cmd, "interface"), by_mac=False)
    ctl.print(f"{ident.mac}\n")
    return True


def cmd_iface_name(ctl: Ctl, cmd: Cmd) -> bool:
    text = ctl.opt_required(cmd, "interface")
    drv = _table(ctl)
    with ctl.failing(f"failed to get interface '{text}'"):
        ident: InterfaceIdent = drv.interface_lookup_by_mac_string(text)
    ctl.print(f"{ident.name}\n")
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "interface"),
    {
        "iface-list": cmd_iface_list,
        "iface-dumpxml": cmd_iface_dumpxml,
        "iface-mac": cmd_iface_mac,
        "iface-name": cmd_iface_name,
    },
    json_commands=("iface-list",),
)
