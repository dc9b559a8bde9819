"""Storage pool and volume commands: pool-list ... pool-refresh, vol-list ... vol-pool.

The rest live in small modules by theme (poolxml, poolmisc, volxfer), imported when used.
"""

from __future__ import annotations

from virtkit.cli.common import exclusive, lookup_pool, lookup_volume, read_file, yes_no
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.network import name_key
from virtkit.cli.output import format_capacity, format_table, to_json
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

    from virtkit.cli.framework import Handler


POOL_STATES = ("inactive", "building", "running", "degraded", "inaccessible")
VOL_TYPES = ("file", "block", "dir", "network", "netdir", "ploop")
_POOL_TYPES = (
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
    "iscsi-direct",
)


def _pool_state(state: int) -> str:
    return POOL_STATES[state] if 0 <= state < len(POOL_STATES) else "unknown"


def _vol_type(kind: int) -> str:
    return VOL_TYPES[kind] if 0 <= kind < len(VOL_TYPES) else "unknown"


def _autostart_text(obj: Any) -> str:
    from virtkit.errors import VirtError

    try:
        return yes_no(obj.autostart)
    except VirtError:
        return "no autostart"


# ---------------------------------------------------------------------------
# Pools
# ---------------------------------------------------------------------------


def cmd_pool_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    exclusive(ctl, cmd, "all", "inactive")
    flags = 2  # VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE
    if cmd.flag("inactive"):
        flags = 1
    if cmd.flag("all"):
        flags = 3
    for option, bit in (
        ("autostart", 16),
        ("no-autostart", 32),
        ("persistent", 4),
        ("transient", 8),
    ):
        if cmd.flag(option):
            flags |= bit
    kinds = ctl.opt_string(cmd, "type")
    exclusive(ctl, cmd, "details", "uuid")
    exclusive(ctl, cmd, "details", "name")
    if kinds:
        for kind in (k for k in kinds.split(",") if k):
            if kind not in _POOL_TYPES:
                ctl.error(f"Invalid pool type '{kind}'")
                return False
            flags |= 64 << _POOL_TYPES.index(kind)
    details = cmd.flag("details")
    with ctl.failing("Failed to list pools"):
        pools = sorted(ctl.conn.list_storage_pools(flags), key=name_key)
    rows: list[list[str]] = []
    docs: list[dict[str, Any]] = []
    for pool in pools:
        autostart = _autostart_text(pool)
        persistent = ""
        if details:
            try:
                persistent = yes_no(pool.is_persistent())
            except VirtError:
                persistent = "unknown"
        try:
            info = pool.info()
        except VirtError:
            ctl.error("Could not retrieve pool information")
            state = "unknown"
            sizes = ["unknown"] * 3
            doc_sizes: list[int | None] = [None] * 3
        else:
            if details:
                state = _pool_state(info.state)
            else:
                state = "active" if pool.is_active() else "inactive"
            if info.state in (2, 3):
                values = (info.capacity, info.allocation, info.available)
                sizes = [format_capacity(v) for v in values]
                doc_sizes = list(values)
            else:
                sizes = ["-"] * 3
                doc_sizes = [None] * 3
        row = [pool.name, state, autostart]
        if details:
            row += [persistent, *sizes]
        rows.append(row)
        docs.append(
            {
                "name": pool.name,
                "uuid": pool.uuid,
                "state": state,
                "autostart": autostart,
                "capacity": doc_sizes[0],
                "allocation": doc_sizes[1],
                "available": doc_sizes[2],
            }
        )
    if cmd.flag("json"):
        ctl.print(to_json(docs))
        return True
    if not details and (cmd.flag("uuid") or cmd.flag("name")):
        for pool in pools:
            if cmd.flag("uuid"):
                ctl.print(f"{pool.uuid:<36}" + (" " if cmd.flag("name") else "\n"))
            if cmd.flag("name"):
                ctl.print(f"{pool.name:<20}\n")
        return True
    header = ["Name", "State", "Autostart"]
    if details:
        header += ["Persistent", "Capacity", "Allocation", "Available"]
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


def cmd_pool_info(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    pool, _ = lookup_pool(ctl, cmd)
    fields: list[tuple[str, str]] = [("Name:", pool.name), ("UUID:", pool.uuid)]
    doc: dict[str, Any] = {"name": pool.name, "uuid": pool.uuid}
    ok = True
    try:
        info = pool.info()
    except VirtError:
        info = None
        ok = False
    if info is not None:
        fields.append(("State:", _pool_state(info.state)))
        try:
            persistent = yes_no(pool.is_persistent())
        except VirtError:
            persistent = "unknown"
        autostart = _autostart_text(pool)
        fields += [("Persistent:", persistent), ("Autostart:", autostart)]
        doc.update(state=_pool_state(info.state), persistent=persistent, autostart=autostart)
        if info.state in (2, 3):
            values = (
                ("Capacity:", info.capacity),
                ("Allocation:", info.allocation),
                ("Available:", info.available),
            )
            for label, value in values:
                text = str(value) if cmd.flag("bytes") else format_capacity(value)
                fields.append((label, text))
            doc.update(capacity=info.capacity, allocation=info.allocation, available=info.available)
    if cmd.flag("json"):
        ctl.print(to_json(doc))
    else:
        ctl.print("".join(f"{label:<15} {value}\n" for label, value in fields))
    return ok


def _build_flags(ctl: Ctl, cmd: Cmd) -> int:
    exclusive(ctl, cmd, "overwrite", "no-overwrite")
    flags = 0
    if cmd.flag("build"):
        flags |= 1
    if cmd.flag("overwrite"):
        flags |= 2
    if cmd.flag("no-overwrite"):
        flags |= 4
    return flags


def cmd_pool_define(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to define pool from {path}"):
        pool = ctl.conn.define_storage_pool(xml, 1 if cmd.flag("validate") else 0)
    ctl.print_extra(f"Pool {pool.name} defined from {path}\n")
    return True


def cmd_pool_create(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    flags = _build_flags(ctl, cmd)
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to create pool from {path}"):
        pool = ctl.conn.create_storage_pool(xml, flags)
    ctl.print_extra(f"Pool {pool.name} created from {path}\n")
    return True


def cmd_pool_start(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    flags = _build_flags(ctl, cmd)
    with ctl.failing(f"Failed to start pool {name}"):
        pool.start(flags)
    ctl.print_extra(f"Pool {name} started\n")
    return True


def cmd_pool_destroy(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    with ctl.failing(f"Failed to destroy pool {name}"):
        pool.destroy()
    ctl.print_extra(f"Pool {name} destroyed\n")
    return True


def cmd_pool_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    with ctl.failing(f"Failed to undefine pool {name}"):
        pool.undefine()
    ctl.print_extra(f"Pool {name} has been undefined\n")
    return True


def cmd_pool_refresh(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    with ctl.failing(f"Failed to refresh pool {name}"):
        pool.refresh()
    ctl.print_extra(f"Pool {name} refreshed\n")
    return True


def cmd_pool_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    pool, _ = lookup_pool(ctl, cmd)
    xml = pool.xml(1 if cmd.flag("inactive") else 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


# ---------------------------------------------------------------------------
# Volumes
# ---------------------------------------------------------------------------


def cmd_vol_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    pool, _ = lookup_pool(ctl, cmd)
    with ctl.failing("Failed to list storage volumes"):
        vols = sorted(pool.list_volumes(), key=name_key)
    details = cmd.flag("details")
    rows: list[list[str]] = []
    docs: list[dict[str, Any]] = []
    for vol in vols:
        try:
            path = vol.path()
        except VirtError:
            path = "unknown"
        row = [vol.name, path]
        doc: dict[str, Any] = {"name": vol.name, "path": path}
        if details or cmd.flag("json"):
            try:
                info = vol.info()
            except VirtError:
                row += ["unknown"] * 3
            else:
                row += [
                    _vol_type(info.type),
                    format_capacity(info.capacity),
                    format_capacity(info.allocation),
                ]
                doc.update(
                    type=_vol_type(info.type), capacity=info.capacity, allocation=info.allocation
                )
        rows.append(row if details else row[:2])
        docs.append(doc)
    if cmd.flag("json"):
        ctl.print(to_json(docs))
        return True
    header = ["Name", "Path"] + (["Type", "Capacity", "Allocation"] if details else [])
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


def cmd_vol_info(ctl: Ctl, cmd: Cmd) -> bool:
    vol, _ = lookup_volume(ctl, cmd)
    flags = 1 if cmd.flag("physical") else 0  # VIR_STORAGE_VOL_GET_PHYSICAL
    if not cmd.flag("json"):
        ctl.print(f"{'Name:':<15} {vol.name}\n")
    info = vol.info(flags)
    if cmd.flag("json"):
        ctl.print(
            to_json(
                {
                    "name": vol.name,
                    "type": _vol_type(info.type),
                    "capacity": info.capacity,
                    "allocation": info.allocation,
                }
            )
        )
        return True
    second = "Physical:" if flags else "Allocation:"
    lines = [f"{'Type:':<15} {_vol_type(info.type)}\n"]
    if cmd.flag("bytes"):
        lines.append(f"{'Capacity:':<15} {info.capacity} bytes\n")
        lines.append(f"{second:<15} {info.allocation} bytes\n")
    else:
        lines.append(f"{'Capacity:':<15} {format_capacity(info.capacity)}\n")
        lines.append(f"{second:<15} {format_capacity(info.allocation)}\n")
    ctl.print("".join(lines))
    return True


def cmd_vol_create(ctl: Ctl, cmd: Cmd) -> bool:
    flags = (1 if cmd.flag("prealloc-metadata") else 0) | (4 if cmd.flag("validate") else 0)
    pool, _ = lookup_pool(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to create vol from {path}"):
        vol = pool.create_volume(xml, flags)
    ctl.print_extra(f"Vol {vol.name} created from {path}\n")
    return True


def _vol_size(ctl: Ctl, text: str) -> int:
    """virshVolSize: a scaled byte count, or "Malformed size" plus libvirt's reason."""
    from virtkit.cli.framework import scale_integer
    from virtkit.errors import VirtError

    try:
        return scale_integer(text, 1, 2**64 - 1)
    except (ValueError, VirtError) as exc:
        ctl.error(f"Malformed size {text}")
        if isinstance(exc, VirtError):
            raise
        raise CmdFailed from None


def cmd_vol_create_as(ctl: Ctl, cmd: Cmd) -> bool:
    from xml.sax.saxutils import escape

    from virtkit.errors import VirtError

    flags = 1 if cmd.flag("prealloc-metadata") else 0
    pool, _ = lookup_pool(ctl, cmd)
    name = ctl.opt_required(cmd, "name")
    capacity_text = ctl.opt_required(cmd, "capacity")
    capacity = _vol_size(ctl, capacity_text)
    allocation_text = cmd.raw("allocation")
    allocation = None
    if allocation_text:
        allocation = _vol_size(ctl, allocation_text)
    fmt = ctl.opt_string(cmd, "format")
    backing = ctl.opt_string(cmd, "backing-vol")
    backing_fmt = ctl.opt_string(cmd, "backing-vol-format")
    lines = ["<volume>\n", f"  <name>{name}</name>\n", f"  <capacity>{capacity}</capacity>\n"]
    if allocation_text is not None:
        lines.append(f"  <allocation>{allocation or 0}</allocation>\n")
    if fmt:
        lines += ["  <target>\n", f"    <format type='{fmt}'/>\n", "  </target>\n"]
    if backing:
        conn = ctl.conn
        found = None
        for finder in (
            pool.lookup_volume,
            conn.lookup_storage_volume_by_key,
            conn.lookup_storage_volume_by_path,
        ):
            try:
                found = finder(backing)
                break
            except VirtError:
                continue
        if found is None:
            ctl.error(f"failed to get vol '{backing}'")
            raise CmdFailed
        lines += ["  <backingStore>\n", f"    <path>{escape(found.path())}</path>\n"]
        if backing_fmt:
            lines.append(f"    <format type='{backing_fmt}'/>\n")
        lines.append("  </backingStore>\n")
    lines.append("</volume>\n")
    xml = "".join(lines)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing(f"Failed to create vol {name}"):
        pool.create_volume(xml, flags)
    ctl.print_extra(f"Vol {name} created\n")
    return True


def cmd_vol_delete(ctl: Ctl, cmd: Cmd) -> bool:
    vol, name = lookup_volume(ctl, cmd)
    with ctl.failing(f"Failed to delete vol {name}"):
        vol.delete(2 if cmd.flag("delete-snapshots") else 0)
    ctl.print_extra(f"Vol {name} deleted\n")
    return True


def cmd_vol_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    vol, _ = lookup_volume(ctl, cmd)
    return dump_xml(ctl, vol.xml(), cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_vol_path(ctl: Ctl, cmd: Cmd) -> bool:
    vol, _ = lookup_volume(ctl, cmd)
    ctl.print(f"{vol.path()}\n")
    return True


def cmd_vol_key(ctl: Ctl, cmd: Cmd) -> bool:
    vol, _ = lookup_volume(ctl, cmd)
    ctl.print(f"{vol.key}\n")
    return True


def cmd_vol_name(ctl: Ctl, cmd: Cmd) -> bool:
    vol, _ = lookup_volume(ctl, cmd, pool_opt=None)
    ctl.print(f"{vol.name}\n")
    return True


def cmd_vol_pool(ctl: Ctl, cmd: Cmd) -> bool:
    vol, _ = lookup_volume(ctl, cmd, pool_opt=None)
    with ctl.failing("failed to get parent pool"):
        pool = vol.pool()
    ctl.print(f"{pool.uuid if cmd.flag('uuid') else pool.name}\n")
    return True


def cmd_vol_create_from(ctl: Ctl, cmd: Cmd) -> bool:
    pool, _ = lookup_pool(ctl, cmd)
    flags = 0
    for option, bit in (("prealloc-metadata", 1), ("reflink", 2), ("validate", 4)):
        if cmd.flag(option):
            flags |= bit  # VIR_STORAGE_VOL_CREATE_*
    path = ctl.opt_required(cmd, "file")
    source, _ = lookup_volume(ctl, cmd, pool_opt="inputpool")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to create vol from {path}"):
        vol = pool.create_volume_from(xml, source, flags)
    ctl.print_extra(f"Vol {vol.name} created from input vol {source.name}\n")
    return True


def _lazy(module: str, name: str) -> Handler:
    """A handler living in cli/MODULE.py, imported only when used."""
    def handler(ctl: Ctl, cmd: Cmd) -> bool:
        import importlib

        result: bool = getattr(importlib.import_module(f"virtkit.cli.{module}"), name)(ctl, cmd)
        return result

    return handler


def _xfer(name: str) -> Handler:
    """Handlers living in cli/volxfer.py."""
    return _lazy("volxfer", name)


_HANDLERS: dict[str, Handler] = {
    "pool-build": _xfer("cmd_pool_build"),
    "pool-capabilities": _xfer("cmd_pool_capabilities"),
    "vol-clone": _xfer("cmd_vol_clone"),
    "vol-download": _xfer("cmd_vol_download"),
    "vol-resize": _xfer("cmd_vol_resize"),
    "vol-upload": _xfer("cmd_vol_upload"),
    "vol-wipe": _xfer("cmd_vol_wipe"),
    "pool-create-as": _lazy("poolxml", "cmd_pool_create_as"),
    "pool-define-as": _lazy("poolxml", "cmd_pool_define_as"),
    "find-storage-pool-sources": _lazy("poolxml", "cmd_find_storage_pool_sources"),
    "find-storage-pool-sources-as": _lazy("poolxml", "cmd_find_storage_pool_sources_as"),
    "pool-autostart": _lazy("poolmisc", "cmd_pool_autostart"),
    "pool-delete": _lazy("poolmisc", "cmd_pool_delete"),
    "pool-edit": _lazy("poolmisc", "cmd_pool_edit"),
    "pool-event": _lazy("poolmisc", "cmd_pool_event"),
    "pool-name": _lazy("poolmisc", "cmd_pool_name"),
    "pool-uuid": _lazy("poolmisc", "cmd_pool_uuid"),
    "pool-list": cmd_pool_list,
    "pool-info": cmd_pool_info,
    "pool-define": cmd_pool_define,
    "pool-create": cmd_pool_create,
    "pool-start": cmd_pool_start,
    "pool-destroy": cmd_pool_destroy,
    "pool-undefine": cmd_pool_undefine,
    "pool-dumpxml": cmd_pool_dumpxml,
    "pool-refresh": cmd_pool_refresh,
    "vol-list": cmd_vol_list,
    "vol-info": cmd_vol_info,
    "vol-create": cmd_vol_create,
    "vol-create-as": cmd_vol_create_as,
    "vol-delete": cmd_vol_delete,
    "vol-dumpxml": cmd_vol_dumpxml,
    "vol-path": cmd_vol_path,
    "vol-key": cmd_vol_key,
    "vol-name": cmd_vol_name,
    "vol-pool": cmd_vol_pool,
    "vol-create-from": cmd_vol_create_from,
}

COMMANDS: dict[str, CommandDef] = {}
for _kw in ("pool", "volume"):
    COMMANDS.update(
        specs_to_defs(
            next(cmds for _, kw, _, cmds in GROUPS if kw == _kw),
            _HANDLERS,
            json_commands=("pool-list", "pool-info", "vol-list", "vol-info"),
        )
    )
