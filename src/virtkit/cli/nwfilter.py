"""virsh's network-filter commands: nwfilter-* and nwfilter-binding-*."""

from __future__ import annotations

import contextlib

from virtkit.cli.common import read_file
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS
from virtkit.errors import NoSupportError, VirtError
from virtkit.handles import NWFilter, NWFilterBinding

__all__ = ["COMMANDS"]

_UUID_LEN = 36


def _lookup(ctl: Ctl, text: str) -> NWFilter:
    """virshCommandOptNWFilterBy: by UUID (36 characters), then by name."""
    if len(text) == _UUID_LEN:
        with contextlib.suppress(VirtError):  # not one of our UUIDs: try it as a name
            return ctl.conn.lookup_nwfilter_by_uuid(text)
    with ctl.failing(f"failed to get nwfilter '{text}'"):
        return ctl.conn.lookup_nwfilter(text)


def _binding(ctl: Ctl, portdev: str) -> NWFilterBinding:
    with ctl.failing(f"failed to get nwfilter binding '{portdev}'"):
        return ctl.conn.lookup_nwfilter_binding(portdev)


def cmd_nwfilter_list(ctl: Ctl, cmd: Cmd) -> bool:
    try:
        filters = sorted(ctl.conn.list_nwfilters(0), key=lambda f: f.name)
    except NoSupportError:
        # virsh falls back to the old API, whose failure it reports as a count
        with ctl.failing("Failed to count network filters"):
            ctl.conn.num_of_nwfilters()
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
        nwfilter = ctl.conn.define_nwfilter(xml, 1 if cmd.flag("validate") else 0)
    ctl.print_extra(f"Network filter {nwfilter.name} defined from {path}\n")
    return True


def cmd_nwfilter_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    nwfilter = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))
    with ctl.failing(f"Failed to undefine network filter {nwfilter.name}"):
        nwfilter.undefine()
    ctl.print_extra(f"Network filter {nwfilter.name} undefined\n")
    return True


def cmd_nwfilter_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    nwfilter = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))
    with ctl.failing(f"failed to get nwfilter '{nwfilter.name}'"):
        xml = nwfilter.xml()
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_nwfilter_binding_list(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("Failed to list network filter bindings"):
        bindings = sorted(ctl.conn.list_nwfilter_bindings(0), key=lambda b: b.port_dev)
    if cmd.flag("json"):
        ctl.print(to_json([{"portdev": b.port_dev, "filter": b.filter_name} for b in bindings]))
        return True
    ctl.print(format_table(["Port Dev", "Filter"],
                           [[b.port_dev, b.filter_name] for b in bindings]))
    return True


def cmd_nwfilter_binding_create(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to create network filter from {path}"):
        binding = ctl.conn.create_nwfilter_binding(xml, 1 if cmd.flag("validate") else 0)
    ctl.print_extra(f"Network filter binding on {binding.port_dev} created from {path}\n")
    return True


def cmd_nwfilter_binding_delete(ctl: Ctl, cmd: Cmd) -> bool:
    portdev = ctl.opt_required(cmd, "binding")
    binding = _binding(ctl, portdev)
    with ctl.failing(f"Failed to delete network filter binding on {portdev}"):
        binding.delete()
    ctl.print_extra(f"Network filter binding on {portdev} deleted\n")
    return True


def cmd_nwfilter_binding_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    binding = _binding(ctl, ctl.opt_required(cmd, "binding"))
    with ctl.failing(f"failed to get nwfilter binding '{binding.port_dev}'"):
        xml = binding.xml()
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_nwfilter_edit(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.editing import edit_loop

    nwfilter = _lookup(ctl, ctl.opt_required(cmd, "nwfilter"))

    def define(xml: str, validate: bool) -> str:
        return ctl.conn.define_nwfilter(xml, 0).name

    return edit_loop(
        ctl,
        nwfilter.xml(),
        define,
        validate=False,
        unchanged=f"Network filter {nwfilter.name} XML configuration not changed.\n",
        changed=lambda name: f"Network filter {name} XML configuration edited.\n",
        reread=nwfilter.xml,
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
