"""virsh's network-filter commands: nwfilter-* and nwfilter-binding-*."""

from __future__ import annotations

import contextlib
from typing import Any

from virtkit.cli.common import read_file
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS
from virtkit.errors import NoSupportError, VirtError
from virtkit.types import NWFilterBindingIdent, NWFilterIdent

__all__ = ["COMMANDS"]

_UUID_LEN = 36


def _table(ctl: Ctl) -> Any:
    return ctl.conn.tables.nwfilter


def _lookup(ctl: Ctl, text: str) -> NWFilterIdent:
    """virshCommandOptNWFilterBy: by UUID (36 characters), then by name."""
    drv = _table(ctl)
    if len(text) == _UUID_LEN:
        with contextlib.suppress(VirtError):  # not one of our UUIDs: try it as a name
            found: NWFilterIdent = drv.nwfilter_lookup_by_uuid(text)
            return found
    with ctl.failing(f"failed to get nwfilter '{text}'"):
        ident: NWFilterIdent = drv.nwfilter_lookup_by_name(text)
    return ident


def _binding(ctl: Ctl, portdev: str) -> NWFilterBindingIdent:
    with ctl.failing(f"failed to get nwfilter binding '{portdev}'"):
        ident: NWFilterBindingIdent = _table(ctl).nwfilter_binding_lookup_by_port_dev(portdev)
    return ident


def cmd_nwfilter_list(ctl: Ctl, cmd: Cmd) -> bool:
    drv = _table(ctl)
    try:
        filters = sorted(drv.connect_list_all_nwfilters(0), key=lambda f: f.name)
    except NoSupportError:
        # virsh falls back to the old API, whose failure it reports as a count
        with ctl.failing("Failed to count network filters"):
            drv.connect_num_of_nwfilters()
        filters = []
    except VirtError:
        ctl.error("Failed to list network filters")
        raise
    if cmd.flag("json"):
        ctl.print(to_json([{"uuid": f.uuid, "name": f.name} for f in filters]))
        return True
    ctl.print(format_table(["UUID", "Name"], [[f.uuid, f.name] for f in filters]))
    return True


def cmd_nwfilter_define(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to define network filter from {path}"):
        ident = _table(ctl).nwfilter_define_xml(xml, 1 if cmd.flag("validate") else 0)
    ctl.print_extra(f"Network filter {ident.name} defined from {path}\n")
    return True


def cmd_nwfilter_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    ident = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))
    with ctl.failing(f"Failed to undefine network filter {ident.name}"):
        _table(ctl).nwfilter_undefine(ident)
    ctl.print_extra(f"Network filter {ident.name} undefined\n")
    return True


def cmd_nwfilter_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    ident = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))
    with ctl.failing(f"failed to get nwfilter '{ident.name}'"):
        xml = _table(ctl).nwfilter_get_xml_desc(ident, 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_nwfilter_binding_list(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("Failed to list network filter bindings"):
        bindings = sorted(_table(ctl).connect_list_all_nwfilter_bindings(0),
                          key=lambda b: b.portdev)
    if cmd.flag("json"):
        ctl.print(to_json([{"portdev": b.portdev, "filter": b.filtername} for b in bindings]))
        return True
    ctl.print(format_table(["Port Dev", "Filter"], [[b.portdev, b.filtername] for b in bindings]))
    return True


def cmd_nwfilter_binding_create(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to create network filter from {path}"):
        ident = _table(ctl).nwfilter_binding_create_xml(xml, 1 if cmd.flag("validate") else 0)
    ctl.print_extra(f"Network filter binding on {ident.portdev} created from {path}\n")
    return True


def cmd_nwfilter_binding_delete(ctl: Ctl, cmd: Cmd) -> bool:
    portdev = ctl.opt_required(cmd, "binding")
    ident = _binding(ctl, portdev)
    with ctl.failing(f"Failed to delete network filter binding on {portdev}"):
        _table(ctl).nwfilter_binding_delete(ident)
    ctl.print_extra(f"Network filter binding on {portdev} deleted\n")
    return True


def cmd_nwfilter_binding_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    ident = _binding(ctl, ctl.opt_required(cmd, "binding"))
    with ctl.failing(f"failed to get nwfilter binding '{ident.portdev}'"):
        xml = _table(ctl).nwfilter_binding_get_xml_desc(ident, 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_nwfilter_edit(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.editing import edit_loop

    ident = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))
    drv = _table(ctl)

    def define(xml: str, validate: bool) -> str:
        name: str = drv.nwfilter_define_xml(xml, 0).name
        return name

    return edit_loop(
        ctl,
        drv.nwfilter_get_xml_desc(ident, 0),
        define,
        validate=False,
        unchanged=f"Network filter {ident.name} XML configuration not changed.\n",
        changed=lambda name: f"Network filter {name} XML configuration edited.\n",
        reread=lambda: str(drv.nwfilter_get_xml_desc(ident, 0)),
    )


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "filter"),
    {
        "nwfilter-list": cmd_nwfilter_list,
        "nwfilter-define": cmd_nwfilter_define,
        "nwfilter-undefine": cmd_nwfilter_undefine,
        "nwfilter-dumpxml": cmd_nwfilter_dumpxml,
        "nwfilter-edit": cmd_nwfilter_edit,
        "nwfilter-binding-list": cmd_nwfilter_binding_list,
        "nwfilter-binding-create": cmd_nwfilter_binding_create,
        "nwfilter-binding-delete": cmd_nwfilter_binding_delete,
        "nwfilter-binding-dumpxml": cmd_nwfilter_binding_dumpxml,
    },
    json_commands=("nwfilter-list", "nwfilter-binding-list"),
)
