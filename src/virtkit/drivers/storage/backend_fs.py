"""``fs`` pools: a block device or image file holding a file system, mounted at the
pool's target path while the pool is active."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from virtkit.drivers.storage.backend import storage_error
from virtkit.drivers.storage.backend_dir import DirBackend
from virtkit.errors import ErrorCode

__all__ = ["FsBackend", "is_mounted"]

_BUILD_NO_OVERWRITE, _BUILD_OVERWRITE = 4, 8  # VIR_STORAGE_POOL_BUILD_*


def _run(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise storage_error(ErrorCode.INTERNAL_ERROR,
                            f"Cannot find '{cmd[0]}' in path: No such file or directory") from None
    if proc.returncode != 0:
        raise storage_error(
            ErrorCode.INTERNAL_ERROR,
            f"Child process ({shlex.join(cmd)}) unexpected exit status {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _unescape(field: str) -> str:
    """Undo the octal escapes of /proc/self/mountinfo (space, tab, newline, backslash)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def is_mounted(target: str) -> bool:
    """Whether something is mounted exactly at ``target``."""
    target = os.path.realpath(target)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return any(_unescape(line.split()[4]) == target for line in f if line.strip())
    except OSError:
        return os.path.ismount(target)


def _probe_fs(device: str) -> str | None:
    """The file system type on ``device`` (None when blkid finds none)."""
    proc = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device],
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


class FsBackend(DirBackend):
    """A file system on ``<source><device path=.../>``, mounted on start."""

    type_name = "fs"

    @property
    def device(self) -> str:
        src = self.pool.source
        if src is None or not src.devices or not src.devices[0].path:
            raise storage_error(ErrorCode.INVALID_ARG, "missing source device")
        if len(src.devices) != 1:
            raise storage_error(ErrorCode.XML_ERROR,
                                "expected exactly 1 device for the storage pool")
        return src.devices[0].path

    @property
    def fs_type(self) -> str | None:
        src = self.pool.source
        fmt = src.format.type if src is not None and src.format is not None else None
        return None if fmt in (None, "auto") else fmt

    def check(self) -> bool:
        return is_mounted(self.target_path)

    def build(self, flags: int = 0) -> None:
        super().build(flags)
        if not flags & (_BUILD_OVERWRITE | _BUILD_NO_OVERWRITE):
            return
        device, fmt = self.device, self.fs_type or "ext4"
        if not os.path.exists(device):
            raise storage_error(ErrorCode.OPERATION_INVALID,
                                f"Source device does not exist when formatting pool "
                                f"'{self.name}'")
        if flags & _BUILD_NO_OVERWRITE:
            found = _probe_fs(device)
            if found is not None:
                raise storage_error(ErrorCode.STORAGE_POOL_BUILT,
                                    f"Device '{device}' already formatted using '{found}'")
        mkfs = shutil.which(f"mkfs.{fmt}") or shutil.which("mkfs")
        if mkfs is None:
            raise storage_error(ErrorCode.INTERNAL_ERROR,
                                f"mkfs is not available on this platform: "
                                f"Failed to make filesystem of type '{fmt}' on device "
                                f"'{device}'")
        cmd = [mkfs, "-F", device] if mkfs.endswith(f"mkfs.{fmt}") and fmt.startswith(
            "ext") else ([mkfs, device] if mkfs.endswith(f"mkfs.{fmt}") else [mkfs, "-t", fmt,
                                                                              device])
        _run(cmd)

    def start(self) -> None:
        device, target = self.device, self.target_path
        if not os.path.exists(device):
            raise storage_error(ErrorCode.INTERNAL_ERROR,
                                f"cannot find source device '{device}'")
        if not os.path.isdir(target):
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                f"cannot open directory '{target}': No such file or directory")
        if is_mounted(target):
            return
        cmd = ["mount"]
        if self.fs_type:
            cmd += ["-t", self.fs_type]
        if os.path.isfile(device):
            cmd += ["-o", "loop"]
        cmd += [device, target]
        _run(cmd)

    def stop(self) -> None:
        target = self.target_path
        if is_mounted(target):
            _run(["umount", target])
