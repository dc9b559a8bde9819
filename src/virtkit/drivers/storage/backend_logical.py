"""The ``logical`` pool backend: an LVM volume group whose logical volumes are the volumes.

Follows libvirt's storage_backend_logical: build = zero the head of each source device,
``pvcreate`` it and ``vgcreate`` the group; start/stop = ``vgchange -aly``/``-aln``;
delete = ``vgremove -f`` + ``pvremove``; volumes = ``lvcreate``/``lvremove``; the volume
key is the LV's UUID and its path ``TARGET/NAME`` (target defaults to ``/dev/VG``).
Differences from libvirt 9.0: reports are read as JSON, ``resize_vol`` is supported
(``lvresize``; libvirt's logical backend has no resize), and every LVM command gets
``--config`` that turns off udev synchronisation, so LVM works in containers without udev.

Hosts without device-mapper (not in ``/proc/misc``) can still hold LVM *metadata*:
with ``activation=False`` (the default there) every command runs with
``global { activation=0 }``, so groups and volumes are created, listed, resized and
removed, but no ``/dev/VG/LV`` nodes appear and sparse (snapshot) volumes cannot be made.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Sequence

from virtkit.conf.storage_pool import StoragePoolDef
from virtkit.conf.storage_vol import StorageVolDef
from virtkit.constants import StoragePoolBuildFlags, StorageVolResizeFlags
from virtkit.drivers.links import SecretValues
from virtkit.drivers.storage.backend import (
    VOL_BLOCK,
    PoolBackend,
    PoolSize,
    VolState,
    sources_xml,
    storage_error,
    xml_escape,
)
from virtkit.drivers.storage.wipe import wipe_local, zero_fill
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_arg, invalid_flags

__all__ = ["LVM_BASE_CONFIG", "LogicalBackend", "LvmTool", "Runner", "device_mapper_available",
           "find_pool_sources", "zero_fill"]

# (argv) -> (exit status, stdout, stderr)
Runner = Callable[[Sequence[str]], tuple[int, str, str]]

LVM_BASE_CONFIG = ("devices { obtain_device_list_from_udev=0 } "
                   "activation { udev_sync=0 udev_rules=0 }")
_NO_ACTIVATION = "global { activation=0 } "
_MIB = 1024 * 1024
_LVM_LABEL = "LVM2_member"  # what blkid calls an LVM physical volume

def run_command(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``argv`` with no stdin; LVM's leaked-descriptor warnings suppressed."""
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1", LC_ALL="C")
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL, env=env)
    except FileNotFoundError:
        raise storage_error(ErrorCode.INTERNAL_ERROR,
                            f"Cannot find '{argv[0]}' in path") from None
    return proc.returncode, proc.stdout, proc.stderr


def device_mapper_available() -> bool:
    """Can this kernel activate logical volumes (is device-mapper loaded)?

    Not ``/dev/mapper/control``: libdevmapper creates that node itself, even when
    the kernel has no device-mapper behind it.
    """
    try:
        with open("/proc/misc") as f:
            return any(line.split()[1:] == ["device-mapper"] for line in f)
    except OSError:
        return False


def _child_error(argv: Sequence[str], status: int, err: str) -> VirtError:
    shown = " ".join(argv)
    lines = [ln.strip() for ln in err.splitlines()
             if ln.strip() and "WARNING: Activation disabled" not in ln]
    return storage_error(ErrorCode.INTERNAL_ERROR,
                         f"Child process ({shown}) unexpected exit status {status}: "
                         + " ".join(lines))


def _kib(nbytes: int) -> str:
    """A size argument in KiB, rounded up (as libvirt passes it)."""
    return f"{-(-nbytes // 1024)}K"


class LvmTool:
    """Runs LVM commands with virtkit's ``--config`` and reads their JSON reports."""

    def __init__(self, activation: bool = True, runner: Runner | None = None) -> None:
        self.activation = activation
        self.runner: Runner = runner or run_command
        self.config = ("" if activation else _NO_ACTIVATION) + LVM_BASE_CONFIG

    def argv(self, cmd: str, *args: str) -> list[str]:
        return [cmd, "--config", self.config, *args]

    def run(self, cmd: str, *args: str) -> str:
        argv = self.argv(cmd, *args)
        status, out, err = self.runner(argv)
        if status != 0:
            raise _child_error(argv, status, err)
        return out

    def report(self, cmd: str, kind: str, fields: str, *args: str) -> list[dict[str, str]]:
        """Rows of an ``lvs``/``vgs``/``pvs`` report (sizes in bytes, no suffix)."""
        out = self.run(cmd, "--reportformat", "json", "--units", "b", "--nosuffix",
                       "-o", fields, *args)
        try:
            data = json.loads(out)
            rows: list[dict[str, str]] = []
            for rep in data["report"]:
                rows.extend(rep.get(kind, []))
            return rows
        except (ValueError, KeyError, TypeError) as exc:
            raise storage_error(ErrorCode.INTERNAL_ERROR,
                                f"cannot parse {cmd} output: {exc}") from None


def find_pool_sources(runner: Runner | None = None) -> str:
    """Every volume group with its physical volumes, as libvirt lists them (``vgscan``,
    errors ignored, then ``pvs``; PVs in no group are left out)."""
    lvm = LvmTool(device_mapper_available(), runner)
    with contextlib.suppress(VirtError):
        lvm.run("vgscan")
    groups: dict[str, list[str]] = {}
    for row in lvm.report("pvs", "pv", "pv_name,vg_name"):
        vg, pv = row.get("vg_name", ""), row.get("pv_name", "")
        if vg and pv:
            groups.setdefault(vg, []).append(pv)
    return sources_xml([
        [*(f"<device path='{xml_escape(pv)}'/>" for pv in pvs),
         f"<name>{xml_escape(vg)}</name>", "<format type='lvm2'/>"]
        for vg, pvs in groups.items()])


class LogicalBackend(PoolBackend):
    """An LVM volume group as a storage pool."""

    type_name = "logical"
    vol_type = VOL_BLOCK
    default_vol_format = None

    def __init__(self, pool: StoragePoolDef, *, activation: bool | None = None,
                 runner: Runner | None = None) -> None:
        super().__init__(pool)
        if activation is None:
            activation = device_mapper_available()
        self.lvm = LvmTool(activation, runner)

    @classmethod
    def find_sources(cls, spec: str | None, flags: int = 0) -> str:
        if flags:
            raise invalid_flags(flags, "virStorageBackendLogicalFindPoolSources",
                                ErrorDomain.STORAGE)
        return find_pool_sources()

    # ------------------------------------------------------------ naming

    @property
    def vg_name(self) -> str:
        """The volume group: ``<source><name>``, else the pool name (libvirt's default)."""
        name = (self.pool.source.name if self.pool.source else None) or self.pool.name or ""
        if not name or name.startswith("-") or "/" in name:
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                f"invalid logical volume group name '{name}'")
        return name

    @property
    def target_path(self) -> str:
        return super().target_path or f"/dev/{self.vg_name}"

    def vol_path(self, name: str) -> str:
        return f"{self.target_path}/{name}"

    def _devices(self) -> list[str]:
        paths = [d.path for d in (self.pool.source.devices if self.pool.source else [])
                 if d.path]
        for p in paths:
            if not p.startswith("/"):
                raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                    f"source device path '{p}' must be absolute")
        return paths

    def _lv(self, name: str) -> str:
        if not name or name.startswith("-") or "/" in name:
            raise invalid_arg(f"invalid logical volume name '{name}'", ErrorDomain.STORAGE)
        return f"{self.vg_name}/{name}"

    # ---------------------------------------------------------------- pool

    def _match_source(self) -> None:
        """libvirt's check that the VG exists and holds at least one of our devices."""
        vg = self.vg_name
        rows = self.lvm.report("pvs", "pv", "pv_name,vg_name")
        pvs = {os.path.realpath(r["pv_name"]) for r in rows if r.get("vg_name") == vg}
        if not pvs:
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                f"cannot find logical volume group name '{vg}'")
        devices = self._devices()
        if devices and not any(os.path.realpath(d) in pvs for d in devices):
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                "cannot find any matching source devices for logical "
                                f"volume group '{vg}'")

    def check(self) -> bool:
        try:
            self._match_source()
        except VirtError:
            return False
        return not self.lvm.activation or os.path.isdir(self.target_path)

    def build(self, flags: int = 0) -> None:
        overwrite = StoragePoolBuildFlags.OVERWRITE
        no_overwrite = StoragePoolBuildFlags.NO_OVERWRITE
        if flags & ~(overwrite | no_overwrite):
            raise invalid_flags(flags, "virStorageBackendLogicalBuildPool", ErrorDomain.STORAGE)
        if flags & overwrite and flags & no_overwrite:
            raise invalid_arg("Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and "
                              "'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive",
                              ErrorDomain.STORAGE)
        vg = self.vg_name
        devices = self._devices()
        if not devices:
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                "missing source device to build a logical pool on")
        done: list[str] = []
        try:
            for path in devices:
                if not flags & overwrite:
                    self._check_empty(path)
                _zero_head(path)
                self.lvm.run("pvcreate", path)
                done.append(path)
            self.lvm.run("vgcreate", vg, *devices)
        except BaseException:
            # Leave no PV labels behind, or the next build would refuse the devices.
            for path in done:
                with contextlib.suppress(VirtError):
                    self.lvm.run("pvremove", path)
            raise

    def _check_empty(self, path: str) -> None:
        status, out, _err = self.lvm.runner(["blkid", "-p", "-o", "export", path])
        if status == 2:  # nothing found
            return
        if status != 0:
            raise storage_error(ErrorCode.OPERATION_INVALID,
                                f"Unable to probe '{path}' for existing data, "
                                "forced overwrite is necessary")
        fields = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
        found = fields.get("TYPE") or fields.get("PTTYPE")
        if found == _LVM_LABEL:
            raise storage_error(ErrorCode.STORAGE_POOL_BUILT,
                                f"Device '{path}' already formatted using '{_LVM_LABEL}'")
        raise storage_error(ErrorCode.STORAGE_POOL_BUILT,
                            f"Format of device '{path}' does not match the expected format "
                            f"'{_LVM_LABEL}', forced overwrite is necessary")

    def start(self) -> None:
        self._match_source()
        self.lvm.run("vgchange", "-aly", self.vg_name)

    def stop(self) -> None:
        self.lvm.run("vgchange", "-aln", self.vg_name)

    def delete(self, flags: int = 0) -> None:
        if flags:
            raise invalid_flags(flags, "virStorageBackendLogicalDeletePool", ErrorDomain.STORAGE)
        self.lvm.run("vgremove", "-f", self.vg_name)
        for path in self._devices():
            with contextlib.suppress(VirtError):  # libvirt only logs this
                self.lvm.run("pvremove", path)

    def refresh(self) -> tuple[PoolSize, list[VolState]]:
        vg = self.vg_name
        rows = self.lvm.report("vgs", "vg", "vg_name,vg_size,vg_free", vg)
        if not rows:
            raise storage_error(ErrorCode.INTERNAL_ERROR, f"volume group '{vg}' not found")
        capacity, free = int(rows[0]["vg_size"]), int(rows[0]["vg_free"])
        size = PoolSize(capacity=capacity, allocation=capacity - free, available=free)
        vols = [v for r in self._lvs(vg) if (v := self._vol_from_row(r)) is not None]
        return size, vols

    # ------------------------------------------------------------- volumes

    def _lvs(self, target: str) -> list[dict[str, str]]:
        return self.lvm.report("lvs", "lv", "lv_name,origin,lv_uuid,lv_size,lv_attr", target)

    def _vol_from_row(self, row: dict[str, str]) -> VolState | None:
        attr = row.get("lv_attr", "")
        if attr[:1] == "t":
            return None  # a thin pool: no device node of its own
        # libvirt lists only active LVs; without activation no LV is ever active.
        if self.lvm.activation and attr[4:5] != "a":
            return None
        name = row["lv_name"]
        path = self.vol_path(name)
        nbytes = int(row["lv_size"])
        origin = row.get("origin", "")
        vol = VolState(name=name, path=path, key=row["lv_uuid"], type=VOL_BLOCK,
                       capacity=nbytes, allocation=nbytes, physical=nbytes, format=None,
                       extra={"sparse": attr[:1] == "s", "lv_attr": attr})
        # "[NAME_vorigin]" is the hidden origin of a --virtualsize LV: not a backing store.
        if origin and not origin.startswith("["):
            vol.backing = self.vol_path(origin)
        try:
            st = os.stat(path)
        except OSError:
            return vol
        vol.mode, vol.owner, vol.group = st.st_mode & 0o7777, st.st_uid, st.st_gid
        return vol

    def _read_vol(self, name: str) -> VolState:
        rows = self._lvs(self._lv(name))
        vol = self._vol_from_row(rows[0]) if rows else None
        if vol is None:
            raise storage_error(ErrorCode.INTERNAL_ERROR,
                                f"cannot find newly created volume '{self.vol_path(name)}'")
        return vol

    def create_vol(self, vol: StorageVolDef, flags: int = 0, *,
                   secrets: SecretValues | None = None) -> VolState:
        if flags:
            raise invalid_flags(flags, "virStorageBackendLogicalCreateVol", ErrorDomain.STORAGE)
        if vol.target is not None and vol.target.encryption is not None:
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                "encrypted logical volumes are not supported")
        name = vol.name or ""
        lv = self._lv(name)
        capacity = vol.capacity or 0
        allocation = capacity if vol.allocation is None else vol.allocation
        args = ["--name", name, "-L"]
        if allocation != capacity:
            # A sparse LV: a snapshot of a virtual (zero) origin, as libvirt makes it.
            args += [_kib(allocation or 1), "--type", "snapshot", "--virtualsize"]
        args.append(_kib(capacity))
        backing = vol.backing_store.path if vol.backing_store else None
        args += ["-s", backing] if backing else [self.vg_name]
        args.append("--yes")
        self.lvm.run("lvcreate", *args)
        try:
            state = self._read_vol(name)
            if os.path.exists(state.path):  # not without device-mapper
                _apply_perms(state, vol)
        except BaseException:
            self._remove(lv)
            raise
        return state

    def _remove(self, lv: str) -> None:
        try:
            self.lvm.run("lvremove", "-f", lv)
        except VirtError:
            # An LV still active elsewhere: deactivate it locally, then try again.
            self.lvm.run("lvchange", "-aln", lv)
            self.lvm.run("lvremove", "-f", lv)

    def delete_vol(self, vol: VolState, flags: int = 0) -> None:
        if flags:
            raise invalid_flags(flags, "virStorageBackendLogicalDeleteVol", ErrorDomain.STORAGE)
        self._remove(self._lv(vol.name))

    def resize_vol(self, vol: VolState, capacity: int, flags: int = 0) -> None:
        known = (StorageVolResizeFlags.ALLOCATE | StorageVolResizeFlags.DELTA
                 | StorageVolResizeFlags.SHRINK)
        if flags & ~known:
            raise invalid_flags(flags, "virStorageBackendLogicalResizeVol", ErrorDomain.STORAGE)
        if vol.extra.get("sparse"):
            raise storage_error(ErrorCode.NO_SUPPORT,
                                f"logical volume '{vol.path}' is sparse, volume resize "
                                "not supported")
        shrink = capacity < vol.capacity
        if shrink and not flags & StorageVolResizeFlags.SHRINK:
            raise invalid_arg("Can't shrink capacity below current capacity unless "
                              "shrink flag explicitly specified", ErrorDomain.STORAGE)
        if capacity == vol.capacity:
            return
        args = ["-f"] if shrink else []  # lvreduce asks for confirmation otherwise
        self.lvm.run("lvresize", *args, "-L", _kib(capacity), self._lv(vol.name))

    def vol_state(self, vol: VolState) -> VolState:
        return self._read_vol(vol.name)

    def wipe_vol(self, vol: VolState, algorithm: int = 0, flags: int = 0) -> None:
        if flags:
            raise invalid_flags(flags, "virStorageBackendLogicalVolWipe", ErrorDomain.STORAGE)
        if vol.extra.get("sparse"):
            raise storage_error(ErrorCode.NO_SUPPORT,
                                f"logical volume '{vol.path}' is sparse, volume wipe "
                                "not supported")
        wipe_local(vol.path, algorithm)


def _apply_perms(state: VolState, vol: StorageVolDef) -> None:
    """Give the new LV node the definition's mode (default 0600) and, as root, owner."""
    perms = vol.target.permissions if vol.target else None
    try:
        mode = int(perms.mode, 8) if perms and perms.mode else 0o600
        uid = int(perms.owner) if perms and perms.owner else -1
        gid = int(perms.group) if perms and perms.group else -1
        if os.geteuid() == 0 and (uid != -1 or gid != -1):
            os.chown(state.path, uid, gid)
        os.chmod(state.path, mode)
    except ValueError:
        raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                            "malformed volume permissions") from None
    except OSError as exc:
        raise storage_error(ErrorCode.OPERATION_FAILED,
                            f"cannot set file mode '{state.path}': {exc.strerror}") from None
    st = os.stat(state.path)
    state.mode, state.owner, state.group = st.st_mode & 0o7777, st.st_uid, st.st_gid


def _zero_head(path: str) -> None:
    """Blank the first MiB (LVM wants no old partition table or label on a PV)."""
    zero_fill(path, _MIB)
