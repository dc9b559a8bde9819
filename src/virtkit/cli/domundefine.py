"""undefine: virsh's cmdUndefine flow, with removal of the domain's storage volumes."""

from __future__ import annotations

from dataclasses import dataclass

from virtkit.cli.common import exclusive, lookup_domain, requires
from virtkit.cli.framework import Cmd, CmdFailed, Ctl

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from virtkit.handles import Domain, StorageVolume

# VIR_DOMAIN_UNDEFINE_* bits, by option.
_UNDEFINE_FLAGS = (
    ("managed-save", 1),
    ("snapshots-metadata", 2),
    ("checkpoints-metadata", 16),
    ("nvram", 4),
    ("keep-nvram", 8),
    ("tpm", 32),
    ("keep-tpm", 64),
)
_MANAGED_SAVE, _SNAPSHOTS_METADATA = 1, 2
_VOL_DELETE_WITH_SNAPSHOTS = 2
_SNAPSHOT_LIST_METADATA = 2
# virXPathString("string(./source/@file|@dir|@name|@dev|@volume)"): first in document order.
_SOURCE_ATTRS = ("file", "dir", "name", "dev", "volume")


@dataclass(slots=True)
class _Volume:
    """virshUndefineVolume: a volume to remove, with the disk it came from."""

    vol: StorageVolume
    target: str
    source: str


def _count_or_zero(call: object, *args: int) -> int:
    """Run a probe; VIR_ERR_NO_SUPPORT counts as "none" (as virsh resets and goes on)."""
    from virtkit.errors import ErrorCode, VirtError

    try:
        return int(call(*args))  # type: ignore[operator]
    except VirtError as exc:
        if exc.code != ErrorCode.NO_SUPPORT:
            raise
        return 0


def _split_list(text: str) -> list[str | None]:
    from virtkit.cli.snapshot import split_commas

    return list(split_commas(text))


def _disk_volumes(ctl: Ctl, dom: Domain, wanted: list[str | None] | None) -> list[_Volume]:
    """The volumes behind the domain's disks (all, or those ``wanted`` names: target or source).

    Entries of ``wanted`` that match a disk are set to None, so the caller can name the rest.
    """
    from virtkit.conf.xmlutil import parse_xml
    from virtkit.errors import VirtError

    root = parse_xml(dom.xml(0), "domain_definition")
    devices = root.find("devices")
    found: list[_Volume] = []
    for disk in devices.findall("disk") if devices is not None else []:
        target_el = disk.find("target")
        target = target_el.get("dev") if target_el is not None else None
        if not target:
            raise CmdFailed  # virsh: "goto error" with no libvirt error to report
        source_el = disk.find("source")
        source = None
        pool = None
        if source_el is not None:
            source = next(
                (str(value) for key, value in source_el.attrib.items() if key in _SOURCE_ATTRS),
                None,
            )
            pool = source_el.get("pool") or None
        if not source:
            continue
        if wanted is not None:
            for index, name in enumerate(wanted):
                if name in (target, source):
                    wanted[index] = None
                    break
            else:
                continue
        try:
            if pool:
                try:
                    storage_pool = ctl.conn.lookup_storage_pool(pool)
                except VirtError:
                    ctl.error(f"Storage pool '{pool}' for volume '{target}' not found.")
                    continue
                vol = storage_pool.lookup_volume(source)
            else:
                vol = ctl.conn.lookup_storage_volume_by_path(source)
        except VirtError:
            ctl.error(
                f"Storage volume '{target}'({source}) is not managed by libvirt. "
                "Remove it manually.\n"
            )
            continue
        found.append(_Volume(vol, target, source))
    return found


def _remove_volumes(ctl: Ctl, vols: list[_Volume], wipe: bool, flags: int) -> Exception | None:
    """Wipe (optionally) and delete each volume; the last error, if any failed."""
    from virtkit.errors import VirtError

    failure: Exception | None = None
    for item in vols:
        if wipe:
            ctl.print_extra(f"Wiping volume '{item.target}'({item.source}) ... ")
            try:
                item.vol.wipe(0)
            except VirtError as exc:
                ctl.error("Failed! Volume not removed.")
                failure = exc
                continue
            ctl.print_extra("Done.\n")
        try:
            item.vol.delete(flags)
        except VirtError as exc:
            ctl.error(f"Failed to remove storage volume '{item.target}'({item.source})")
            failure = exc
        else:
            ctl.print_extra(f"Volume '{item.target}'({item.source}) removed.\n")
    return failure


def _undefine_piecewise(
    ctl: Ctl, cmd: Cmd, dom: Domain, name: str, has_managed: int, has_metadata: int
) -> bool:
    """virsh's fallback when the flags are unsafe or refused: remove the managed save
    image by itself, refuse to strand snapshot metadata, then a plain virDomainUndefine."""
    if has_managed:
        if not cmd.flag("managed-save"):
            ctl.error("Refusing to undefine while domain managed save image exists")
            return False
        dom.managed_save_remove()
    if has_metadata:
        if cmd.flag("snapshots-metadata"):
            ctl.error(f"Unable to remove metadata of {has_metadata} snapshots")
        else:
            ctl.error(f"Refusing to undefine while {has_metadata} snapshots exist")
        return False
    with ctl.failing(f"Failed to undefine domain '{name}'"):
        dom.undefine(0)
    return True


def cmd_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    """Undefine a domain (a running one becomes transient); remove its volumes on request."""
    requires(ctl, cmd, "delete-storage-volume-snapshots", "remove-all-storage")
    exclusive(ctl, cmd, "nvram", "keep-nvram")
    exclusive(ctl, cmd, "tpm", "keep-tpm")
    storage = cmd.raw("storage") or None  # vshCommandOptStringQuiet: '' counts as absent
    remove_all = cmd.flag("remove-all-storage")
    if not (storage or remove_all) and cmd.flag("wipe-storage"):
        ctl.error("'--wipe-storage' requires '--storage <string>' or '--remove-all-storage'")
        return False
    vol_flags = _VOL_DELETE_WITH_SNAPSHOTS if cmd.flag("delete-storage-volume-snapshots") else 0
    flags = 0
    for option, bit in _UNDEFINE_FLAGS:
        if cmd.flag(option):
            flags |= bit
    from virtkit.errors import ErrorCode, VirtError

    managed_safe = bool(flags & _MANAGED_SAVE)
    snapshots_safe = bool(flags & _SNAPSHOTS_METADATA)
    dom, name = lookup_domain(ctl, cmd)
    running = dom.is_active()
    has_managed = has_snapshots = has_metadata = 0
    if not running:
        has_managed = int(_count_or_zero(dom.has_managed_save))
        has_snapshots = _count_or_zero(dom.snapshot_count, 0)
        if has_snapshots:
            try:
                has_metadata = dom.snapshot_count(_SNAPSHOT_LIST_METADATA)
            except VirtError:
                has_metadata = has_snapshots  # the server lacks the flag: assume all have metadata
            else:
                managed_safe = snapshots_safe = True
    if not has_managed:
        flags &= ~_MANAGED_SAVE
        managed_safe = True
    if has_snapshots == 0:
        snapshots_safe = True
    if has_metadata == 0:
        flags &= ~_SNAPSHOTS_METADATA
        snapshots_safe = True

    vols: list[_Volume] = []
    if storage or remove_all:
        if running:
            ctl.error("Storage volume deletion is supported only on stopped domains")
            return False
        if storage and remove_all:
            ctl.error("Specified both --storage and --remove-all-storage")
            return False
        wanted = _split_list(storage) if storage else None
        vols = _disk_volumes(ctl, dom, wanted)
        missing = [entry for entry in wanted or [] if entry is not None]
        for entry in missing:
            ctl.error(f"Volume '{entry}' was not found in domain's definition.\n")
        if missing:
            return False

    nvram = cmd.flag("nvram")
    done = False
    if (managed_safe and snapshots_safe) or nvram:
        try:
            dom.undefine(flags)
            done = True
        except VirtError as exc:
            if nvram or exc.code not in (ErrorCode.NO_SUPPORT, ErrorCode.INVALID_ARG):
                ctl.error(f"Failed to undefine domain '{name}'")
                raise
    if not done and not _undefine_piecewise(ctl, cmd, dom, name, has_managed, has_metadata):
        return False
    ctl.print_extra(f"Domain '{name}' has been undefined\n")
    failure = _remove_volumes(ctl, vols, cmd.flag("wipe-storage"), vol_flags)
    if failure is not None:
        raise failure
    return True
