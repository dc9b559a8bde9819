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


_CONTROL = {chr(c) for c in range(1, 32)} - {"\t", "\n", "\r"}


def _escape(text: str) -> str:
    """virBufferEscapeString: XML-escape, silently dropping control characters."""
    return (
        "".join(ch for ch in text if ch not in _CONTROL)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def split_commas(text: str) -> list[str]:
    """vshStringToArray: split at ',' where ',,' stands for a literal comma."""
    parts = text.split(",")
    out = [parts[0]]
    concat = False
    for part in parts[1:]:
        if concat:
            out[-1] += "," + part
            concat = False
        elif part == "":
            concat = True
        else:
            out.append(part)
    if concat:
        out.append("")
    return out


def _memspec_xml(ctl: Ctl, spec: str) -> str:
    """virshParseSnapshotMemspec: ``[file=]name[,snapshot=type]`` -> <memory .../>."""
    snapshot = file = None
    for item in split_commas(spec):
        if snapshot is None and item.startswith("snapshot="):
            snapshot = item[len("snapshot="):]
        elif file is None and item.startswith("file="):
            file = item[len("file="):]
        elif file is None and item.startswith("/"):
            file = item
        else:
            ctl.error(f"unable to parse memspec: {spec}")
            raise CmdFailed
    attrs = "".join(
        f" {key}='{_escape(value)}'"
        for key, value in (("snapshot", snapshot), ("file", file))
        if value is not None
    )
    return f"  <memory{attrs}/>\n"


def _diskspec_xml(ctl: Ctl, spec: str) -> str:
    """virshParseSnapshotDiskspec: ``disk[,snapshot=][,driver=][,stype=][,file=]`` -> <disk>."""
    items = split_commas(spec)
    found: dict[str, str] = {}
    for item in items[1:]:
        key = item.split("=", 1)[0]
        if key in ("snapshot", "driver", "stype", "file") and "=" in item and key not in found:
            found[key] = item[len(key) + 1:]
        else:
            ctl.error(f"unable to parse diskspec: {spec}")
            raise CmdFailed
    # As virsh: snapshot, driver and stype are written unescaped; name and file escaped.
    head = f"    <disk name='{_escape(items[0])}'"
    if "snapshot" in found:
        head += f" snapshot='{found['snapshot']}'"
    stype = found.get("stype")
    if stype is not None:
        if stype not in ("block", "file"):
            ctl.error(f"Unknown storage type: '{stype}'")
            ctl.error(f"unable to parse diskspec: {spec}")
            raise CmdFailed
        head += f" type='{stype}'"
    if "driver" not in found and "file" not in found:
        return head + "/>\n"
    body = [head + ">\n"]
    if "driver" in found:
        body.append(f"      <driver type='{found['driver']}'/>\n")
    if "file" in found:
        attr = "dev" if stype == "block" else "file"
        body.append(f"      <source {attr}='{_escape(found['file'])}'/>\n")
    body.append("    </disk>\n")
    return "".join(body)


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
    memspec = ctl.opt_string(cmd, "memspec")
    if memspec is not None:
        lines.append(_memspec_xml(ctl, memspec))
    if cmd.has("diskspec"):
        lines.append("  <disks>\n")
        lines.extend(_diskspec_xml(ctl, spec) for spec in cmd.argv("diskspec"))
        lines.append("  </disks>\n")
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
# Filters virsh refuses together with --tree.
_TREE_EXCLUSIVE = frozenset((4, 8, 32, 64, 128, 256, 512))


def _text(xml: str, path: str) -> str | None:
    match = re.search(
        "".join(f"<{tag}>.*?" for tag in path.split("/")[:-1])
        + f"<{path.split('/')[-1]}>([^<]*)</",
        xml,
        re.S,
    )
    return match.group(1) if match else None


def _exclusive_list_options(ctl: Ctl, cmd: Cmd) -> None:
    """The VSH_EXCLUSIVE_OPTIONS_VAR checks of cmdSnapshotList, in virsh's order."""
    from virtkit.cli.common import exclusive

    for first, second in (
        ("tree", "name"),
        ("parent", "roots"),
        ("parent", "tree"),
        ("roots", "tree"),
        ("roots", "from"),
        ("roots", "current"),
    ):
        if second == "from":
            if cmd.flag(first) and cmd.has("from"):
                ctl.error(f"Options --{first} and --{second} are mutually exclusive")
                raise CmdFailed
        else:
            exclusive(ctl, cmd, first, second)


def _list_flags(ctl: Ctl, cmd: Cmd) -> int:
    tree = cmd.flag("tree")
    flags = 0
    for option, bit in _LIST_FLAGS:
        if not cmd.flag(option):
            continue
        if tree and bit in _TREE_EXCLUSIVE:
            ctl.error(f"--{option} and --tree are mutually exclusive")
            raise CmdFailed
        flags |= bit
    if cmd.flag("descendants"):
        if not cmd.has("from") and not cmd.flag("current"):
            ctl.error("--descendants requires either --from or --current")
            raise CmdFailed
        flags |= 1  # VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS
    return flags


def _start_snapshot(ctl: Ctl, cmd: Cmd, dom: Domain) -> Snapshot | None:
    """virshLookupSnapshot(cmd, "from", exclusive): the --from or --current snapshot."""
    current = cmd.flag("current")
    name = ctl.opt_string(cmd, "from")
    if not (current or cmd.has("from")):
        return None
    if current and name:
        ctl.error("--from and --current are mutually exclusive")
        raise CmdFailed
    if name:
        return dom.lookup_snapshot(name)
    return dom.current_snapshot()


def _parent_name(snap: Snapshot) -> str | None:
    """virshGetSnapshotParent: None for a root."""
    from virtkit.errors import ErrorCode, VirtError

    try:
        return snap.parent().name
    except VirtError as exc:
        if exc.code != ErrorCode.NO_DOMAIN_SNAPSHOT:
            raise
        return None


def tree_lines(names: list[str], parents: list[str | None], root: int) -> list[str]:
    """vshTreePrint: the "|" and "+- " drawing of the subtree at index ``root``."""
    out: list[str] = []
    indent: list[str] = []

    def walk(index: int, last: int, is_root: bool) -> None:
        name = names[index]
        out.append("".join(indent) + ("" if is_root else "+- ") + name)
        if not is_root:
            indent.append(("|" if index != last else " ") + " ")
        children = [i for i, parent in enumerate(parents) if parent == name]
        next_last = children[-1] if children else -1
        if children:
            out.append("".join(indent) + "  |")
        indent.append("  ")
        for child in children:
            walk(child, next_last, False)
        indent.pop()
        if not children and index == last:
            out.append("".join(indent))
        if not is_root:
            indent.pop()

    walk(root, root, True)
    return out


def cmd_snapshot_list(ctl: Ctl, cmd: Cmd) -> bool:
    import time

    _exclusive_list_options(ctl, cmd)
    flags = _list_flags(ctl, cmd)
    tree = cmd.flag("tree")
    dom, _ = lookup_domain(ctl, cmd)
    start = _start_snapshot(ctl, cmd, dom)
    snaps = start.children(flags) if start is not None else dom.list_snapshots(flags)
    parents: list[str | None] = []
    if tree:
        parents = [_parent_name(snap) for snap in snaps]
        if start is not None:
            # With --from, the start snapshot heads the tree (as the only one without parent).
            snaps.append(start)
            parents.append(None)
    if not cmd.flag("topological"):
        order = sorted(range(len(snaps)), key=lambda i: snaps[i].name.lower())
        snaps = [snaps[i] for i in order]
        parents = [parents[i] for i in order] if tree else parents
    if tree:
        names = [snap.name for snap in snaps]
        if cmd.flag("json"):
            pairs = zip(names, parents, strict=True)
            ctl.print(to_json([{"name": n, "parent": p} for n, p in pairs]))
            return True
        for index, parent in enumerate(parents):
            if parent is None:
                ctl.print("".join(line + "\n" for line in tree_lines(names, parents, index)))
        return True
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
