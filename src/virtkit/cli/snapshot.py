"""Snapshot commands: snapshot-create-as, snapshot-list, snapshot-revert, -delete, -current."""

from __future__ import annotations

import re

from virtkit.cli.common import lookup_domain
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

    from virtkit.handles import Domain, Snapshot


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def cmd_snapshot_create_as(ctl: Ctl, cmd: Cmd) -> bool:
    flags = 0
    for option, bit in (
        ("halt", 8),
        ("disk-only", 16),
        ("reuse-external", 32),
        ("quiesce", 64),
        ("atomic", 128),
        ("live", 256),
        ("validate", 512),
        ("no-metadata", 4),
    ):
        if cmd.flag(option):
            flags |= bit
    dom, _ = lookup_domain(ctl, cmd)
    name = ctl.opt_string(cmd, "name")
    desc = ctl.opt_string(cmd, "description")
    lines = ["<domainsnapshot>\n"]
    if name is not None:
        lines.append(f"  <name>{_escape(name)}</name>\n")
    if desc is not None:
        lines.append(f"  <description>{_escape(desc)}</description>\n")
    if ctl.opt_string(cmd, "memspec") is not None or cmd.has("diskspec"):
        ctl.error("virtkit: --memspec and --diskspec are not supported yet")
        return False
    lines.append("</domainsnapshot>\n")
    xml = "".join(lines)
    if cmd.flag("print-xml"):
        ctl.print(xml + "\n")
        return True
    snap = dom.create_snapshot(xml, flags)
    ctl.print_extra(f"Domain snapshot {snap.name} created")
    return True


def _lookup_snapshot(ctl: Ctl, cmd: Cmd, dom: Domain) -> Snapshot:
    """virshLookupSnapshot: by --snapshotname, or --current."""
    current = cmd.flag("current")
    name = ctl.opt_string(cmd, "snapshotname")
    if current and name:
        ctl.error("--snapshotname and --current are mutually exclusive")
        raise CmdFailed
    if name:
        return dom.lookup_snapshot(name)
    if current:
        return dom.current_snapshot()
    ctl.error("--snapshotname or --current is required")
    raise CmdFailed


def cmd_snapshot_revert(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import ErrorCode, VirtError

    flags = 0
    for option, bit in (("running", 1), ("paused", 2), ("reset-nvram", 8)):
        if cmd.flag(option):
            flags |= bit
    dom, _ = lookup_domain(ctl, cmd)
    snap = _lookup_snapshot(ctl, cmd, dom)
    with ctl.failing(f"Failed to revert snapshot {snap.name}"):
        try:
            dom.revert_to_snapshot(snap, flags)
        except VirtError as exc:
            if not (cmd.flag("force") and exc.code == ErrorCode.SNAPSHOT_REVERT_RISKY):
                raise
            dom.revert_to_snapshot(snap, flags | 4)  # VIR_DOMAIN_SNAPSHOT_REVERT_FORCE
    ctl.print_extra(f"Domain snapshot {snap.name} reverted\n")
    return True


def cmd_snapshot_delete(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    snap = _lookup_snapshot(ctl, cmd, dom)
    flags = 0
    for option, bit in (("children", 1), ("metadata", 2), ("children-only", 4)):
        if cmd.flag(option):
            flags |= bit
    with ctl.failing(f"Failed to delete snapshot {snap.name}"):
        snap.delete(flags)
    if flags & 4:
        ctl.print_extra(f"Domain snapshot {snap.name} children deleted\n")
    else:
        ctl.print_extra(f"Domain snapshot {snap.name} deleted\n")
    return True


def cmd_snapshot_current(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.common import exclusive

    flags = 1 if cmd.flag("security-info") else 0
    exclusive(ctl, cmd, "name", "snapshotname")
    dom, domname = lookup_domain(ctl, cmd)
    target = ctl.opt_string(cmd, "snapshotname")
    if target:
        snap = dom.lookup_snapshot(target)
        xml = snap.xml(1)
        create = 1 | 2  # REDEFINE | CURRENT
        if "<state>disk-snapshot</state>" in xml:
            create |= 16
        dom.create_snapshot(xml, create)
        ctl.print_extra(f"Snapshot {target} set as current")
        return True
    if not dom.has_current_snapshot():
        ctl.error(f"domain '{domname}' has no current snapshot")
        return False
    snap = dom.current_snapshot()
    ctl.print(snap.name if cmd.flag("name") else snap.xml(flags))
    return True


_LIST_FLAGS = (
    ("roots", 1),
    ("leaves", 4),
    ("no-leaves", 8),
    ("metadata", 2),
    ("no-metadata", 16),
    ("inactive", 32),
    ("active", 64),
    ("disk-only", 128),
    ("internal", 256),
    ("external", 512),
    ("topological", 1024),
)


def _text(xml: str, path: str) -> str | None:
    match = re.search(
        "".join(f"<{tag}>.*?" for tag in path.split("/")[:-1])
        + f"<{path.split('/')[-1]}>([^<]*)</",
        xml,
        re.S,
    )
    return match.group(1) if match else None


def cmd_snapshot_list(ctl: Ctl, cmd: Cmd) -> bool:
    import time

    if cmd.flag("tree") or cmd.has("from") or cmd.flag("current") or cmd.flag("descendants"):
        ctl.error("virtkit: --tree, --from, --current and --descendants are not supported yet")
        return False
    flags = 0
    for option, bit in _LIST_FLAGS:
        if cmd.flag(option):
            flags |= bit
    dom, _ = lookup_domain(ctl, cmd)
    snaps = dom.list_snapshots(flags)
    if not cmd.flag("topological"):
        snaps.sort(key=lambda s: s.name.lower())
    if cmd.flag("name"):
        for snap in snaps:
            ctl.print(f"{snap.name}\n")
        return True
    rows: list[list[str]] = []
    docs: list[dict[str, Any]] = []
    for snap in snaps:
        xml = snap.xml(0)
        state = _text(xml, "state")
        created = _text(xml, "creationTime")
        if state is None or created is None:
            continue
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(int(created)))
        row = [snap.name, stamp, state]
        parent = None
        if cmd.flag("parent"):
            parent = _text(xml, "parent/name") or ""
            row.append(parent)
        rows.append(row)
        docs.append(
            {"name": snap.name, "creation_time": int(created), "state": state, "parent": parent}
        )
    if cmd.flag("json"):
        ctl.print(to_json(docs))
        return True
    header = ["Name", "Creation Time", "State"] + (["Parent"] if cmd.flag("parent") else [])
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "snapshot"),
    {
        "snapshot-create-as": cmd_snapshot_create_as,
        "snapshot-list": cmd_snapshot_list,
        "snapshot-revert": cmd_snapshot_revert,
        "snapshot-delete": cmd_snapshot_delete,
        "snapshot-current": cmd_snapshot_current,
    },
    json_commands=("snapshot-list",),
)
