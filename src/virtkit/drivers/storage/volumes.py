"""File volumes: qemu-img and plain file operations (create, clone, resize, wipe, probe).

Every function raises VirtError with libvirt's wording; a function that creates a
file removes it again when it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import stat
import subprocess
from collections.abc import Sequence
from typing import Any

from virtkit.drivers.storage import qemuimg_opts
from virtkit.drivers.storage.backend import (
    VOL_DIR,
    VOL_FILE,
    TargetFacts,
    VolState,
    storage_error,
)
from virtkit.errors import ErrorCode, VirtError

__all__ = ["clone", "create", "probe", "qemu_img", "read_header", "resize"]

QEMU_IMG = "qemu-img"
TARGET_FACTS = "virtkit-target"  # read_header's key of a qcow2 image's TargetFacts
# formats qemu-img can write; the rest of libvirt's file formats are refused
WRITABLE = ("raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "cloop", "luks")


def qemu_img(*args: str, pass_fds: tuple[int, ...] = ()) -> str:
    """Run qemu-img; its stdout, or libvirt's "Child process ... unexpected exit" error."""
    cmd = [QEMU_IMG, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600,
                              pass_fds=pass_fds)
    except FileNotFoundError:
        raise storage_error(ErrorCode.INTERNAL_ERROR, "unable to find qemu-img") from None
    if proc.returncode != 0:
        raise storage_error(
            ErrorCode.INTERNAL_ERROR,
            f"Child process ({shlex.join(cmd)}) unexpected exit status {proc.returncode}: "
            f"{proc.stderr.strip()}")
    return proc.stdout


def _system(msg: str, exc: OSError) -> VirtError:
    return storage_error(ErrorCode.SYSTEM_ERROR, f"{msg}: {exc.strerror or exc}")


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _timestamps(st: os.stat_result) -> dict[str, str]:
    out = {}
    for key, ns in (("atime", st.st_atime_ns), ("mtime", st.st_mtime_ns),
                    ("ctime", st.st_ctime_ns)):
        sec, frac = divmod(ns, 10**9)
        out[key] = f"{sec}.{frac}" if frac else str(sec)
    # libvirt 9.0 on Linux takes the birth time from stat(2), which has none: it writes 0
    out["btime"] = "0"
    return out


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def probe(name: str, path: str) -> VolState | None:
    """Describe the file ``path`` (None for what is not a volume: sockets, fifos, gone).

    One open, one fstat and one read of the header per file: a refresh of a pool with
    thousands of volumes spends its time here (libvirt probes headers in-process too)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:  # gone, a socket (ENXIO), unreadable: what stat says decides
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return None
        return _describe(name, path, st, None)
    try:
        return _describe(name, path, os.fstat(fd), fd)
    finally:
        os.close(fd)


def _describe(name: str, path: str, st: os.stat_result, fd: int | None) -> VolState | None:
    vol = VolState(name=name, path=path, key=path, mode=stat.S_IMODE(st.st_mode),
                   owner=st.st_uid, group=st.st_gid, timestamps=_timestamps(st))
    if stat.S_ISDIR(st.st_mode):
        vol.type, vol.format = VOL_DIR, "dir"
        vol.capacity = vol.allocation = vol.physical = st.st_size
        return vol
    if not stat.S_ISREG(st.st_mode):
        return None
    vol.type = VOL_FILE
    vol.allocation = st.st_blocks * 512
    vol.physical = st.st_size
    info = _header_of_fd(fd, path, st.st_size) if fd is not None else None
    if info is None:  # a format only qemu-img knows (or an unreadable file): ask it
        info = image_info(path)
    vol.format = str(info.get("format") or "raw")
    if vol.format == "luks":  # libvirt probes a LUKS image as raw with LUKS encryption
        vol.format, vol.encryption = "raw", "luks"
        vol.capacity = int(info.get("virtual-size") or st.st_size)  # without the header
    else:
        if info.get("encrypted"):
            vol.encryption = "luks"
        # qemu rounds a raw file's size up to a sector; libvirt reports the file size
        vol.capacity = (st.st_size if vol.format == "raw"
                        else int(info.get("virtual-size") or st.st_size))
    facts = info.get(TARGET_FACTS)
    if vol.format == "qcow2" and isinstance(facts, TargetFacts):
        vol.header = facts
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    if backing:
        vol.backing = str(backing)
        vol.backing_format = info.get("backing-filename-format")
    return vol


_QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_EXT_BACKING_FORMAT = 0xE2792ACA
_QCOW2_CRYPT_LUKS = 2  # the header's crypt_method
_HEAD = 512
# Headers of the formats read_header leaves to qemu-img: (offset, magic).
_OTHER_MAGICS = (
    (0, b"QFI\xfb"),  # qcow (version 1)
    (0, b"QED\0"), (0, b"KDMV"), (0, b"COWD"), (0, b"# Disk Descriptor"),  # qed, vmdk
    (0, b"conectix"), (0, b"vhdxfile"), (0, b"LUKS\xba\xbe"),  # vpc, vhdx, luks
    (0, b"Bochs Virtual HD Image"), (0, b"#!/bin/sh\n#V2.0 Format"),  # bochs, cloop
    (0, b"WithoutFreeSpace"), (0, b"WithouFreSpacExt"),  # parallels
    (64, b"\x7f\x10\xda\xbe"),  # vdi
)
# Their first four bytes at offset 0: a cheap first test before the full comparison.
_OTHER_PREFIXES = frozenset(m[:4] for o, m in _OTHER_MAGICS if o == 0)


def read_header(path: str, size: int) -> dict[str, Any] | None:
    """What ``qemu-img info`` would say of ``path``, read from its header in Python:
    qcow2 (version, size, backing file and its format) and raw (no known magic).
    None when the file has another format's header (or is named ``*.dmg``): those
    are left to qemu-img."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return {"format": "raw", "virtual-size": size}  # as qemu-img failing did
    try:
        return _header_of_fd(fd, path, size)
    finally:
        os.close(fd)


def _header_of_fd(fd: int, path: str, size: int) -> dict[str, Any] | None:
    try:
        head = os.pread(fd, _HEAD, 0)
        if head[:4] == _QCOW2_MAGIC and len(head) >= 72:
            if int.from_bytes(head[4:8], "big") < 2:
                return None
            return _qcow2_info(fd, head, path)
    except OSError:
        return {"format": "raw", "virtual-size": size}  # as qemu-img failing did
    if path.endswith(".dmg"):
        return None
    if ((head[:4] in _OTHER_PREFIXES or head[64:68] == b"\x7f\x10\xda\xbe")
            and any(head[o:o + len(m)] == m for o, m in _OTHER_MAGICS)):
        return None
    return {"format": "raw", "virtual-size": size}


def _qcow2_info(fd: int, head: bytes, path: str) -> dict[str, Any]:
    info: dict[str, Any] = {"format": "qcow2",
                            "virtual-size": int.from_bytes(head[24:32], "big")}
    if int.from_bytes(head[32:36], "big") == _QCOW2_CRYPT_LUKS:
        info["encrypted"] = True
    version = int.from_bytes(head[4:8], "big")
    b_off, b_len = int.from_bytes(head[8:16], "big"), int.from_bytes(head[16:20], "big")
    info[TARGET_FACTS] = _qcow2_facts(head, version, b_off, b_len)
    if not b_off or not b_len:
        return info
    backing = os.pread(fd, b_len, b_off).decode("utf-8", "replace")
    info["backing-filename"] = backing
    if backing.startswith("/"):
        info["full-backing-filename"] = backing
    elif ":" not in backing.split("/", 1)[0]:  # not a protocol (nbd:, http: ...)
        info["full-backing-filename"] = os.path.join(os.path.dirname(path), backing)
    # header extensions: after the header, up to the backing file name
    pos = int.from_bytes(head[100:104], "big") if version >= 3 else 72
    ext = os.pread(fd, b_off - pos, pos) if b_off > pos else b""
    i = 0
    while i + 8 <= len(ext):
        kind = int.from_bytes(ext[i:i + 4], "big")
        length = int.from_bytes(ext[i + 4:i + 8], "big")
        if kind == 0:
            break
        if kind == _QCOW2_EXT_BACKING_FORMAT:
            info["backing-filename-format"] = ext[i + 8:i + 8 + length].decode(
                "ascii", "replace")
            break
        i += 8 + (length + 7) // 8 * 8
    return info


# libvirt's header probe (storage_file_probe.c): the bytes it reads, the longest backing
# name it accepts; the qcow2 v3 feature bits it knows
_PROBE_HEADER = 0x8200
_PROBE_BACKING_MAX = 1023
_COMPAT_LAZY_REFCOUNTS = 1 << 0
_INCOMPAT_EXTENDED_L2 = 1 << 4


def _qcow2_facts(head: bytes, version: int, b_off: int, b_len: int) -> TargetFacts:
    """``<compat>``, ``<clusterSize>`` and ``<features>`` as libvirt reads them from a qcow2
    header: version 3 is compat 1.1 with its features; version 2 has neither (nor has a
    header whose backing name libvirt finds invalid)."""
    bits = int.from_bytes(head[20:24], "big", signed=True)
    cluster = 1 << bits if 0 < bits < 64 else None
    if version < 3 or len(head) < 104 or (b_off and b_len and (
            b_len > _PROBE_BACKING_MAX or b_off + b_len > _PROBE_HEADER)):
        return TargetFacts(cluster_size=cluster)
    incompat = int.from_bytes(head[72:80], "big")
    compat = int.from_bytes(head[80:88], "big")
    names = (["lazy_refcounts"] if compat & _COMPAT_LAZY_REFCOUNTS else []) + (
        ["extended_l2"] if incompat & _INCOMPAT_EXTENDED_L2 else [])
    return TargetFacts(compat="1.1", cluster_size=cluster, features=tuple(names))


def image_info(path: str) -> dict[str, Any]:
    """qemu-img info of one image (without its chain); {} when qemu-img cannot read it."""
    try:
        out = qemu_img("info", "-U", "--output=json", path)
        data = json.loads(out)
    except (VirtError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_chain(path: str, fmt: str | None) -> None:
    """Refuse a backing store whose chain cannot be opened (missing file, loop)."""
    args = ["info", "-U", "--backing-chain", "--output=json"]
    if fmt:
        args += ["-f", fmt]
    qemu_img(*args, path)


_LUKS_ATTEMPTS = 3
_PBKDF_CLOCK = "Unable to get accurate CPU usage"


def _secret_pipe(passphrase: bytes) -> int:
    """A pipe's read end holding ``passphrase`` (then EOF): qemu-img reads it as
    ``/dev/fd/N``, so the passphrase never touches a file."""
    rfd, wfd = os.pipe()
    try:
        os.write(wfd, passphrase)  # a passphrase fits in the pipe's buffer
    except BaseException:
        os.close(rfd)
        raise
    finally:
        os.close(wfd)
    return rfd


def create(path: str, fmt: str, capacity: int, allocation: int, *,
           backing: str | None = None, backing_fmt: str | None = None,
           prealloc_metadata: bool = False, compat: str | None = None,
           mode: int = 0o600, passphrase: bytes | None = None,
           cluster_size: int | None = None, features: Sequence[str] | None = None,
           nocow: bool = False) -> None:
    """Create a new volume file (refuses one that exists). With ``passphrase`` it is a
    LUKS image: qcow2 with LUKS encryption, or (``raw``) a plain LUKS image. The other
    keywords are the volume's ``<target>`` settings qemu-img gets (qemuimg_opts)."""
    if os.path.lexists(path):
        raise storage_error(ErrorCode.OPERATION_FAILED,
                            f"volume target path '{path}' already exists")
    if passphrase is not None and fmt == "raw":
        fmt = "luks"  # libvirt's storageBackendCreateQemuImgSetInfo
    for attempt in range(1, _LUKS_ATTEMPTS + 1):
        secret_fd = _secret_pipe(passphrase) if passphrase is not None else None
        try:
            opts = qemuimg_opts.ImgOptions(
                fmt, capacity, allocation, prealloc=prealloc_metadata, compat=compat,
                cluster_size=cluster_size, features=features, nocow=nocow)
            _create(path, opts, backing=backing, backing_fmt=backing_fmt, mode=mode,
                    secret_fd=secret_fd)
            return
        except VirtError as exc:
            # QEMU 7.2's PBKDF benchmark fails now and then when the thread's CPU clock
            # has not ticked ("Unable to get accurate CPU usage"): nothing was made, retry
            if secret_fd is None or _PBKDF_CLOCK not in exc.message or \
                    attempt == _LUKS_ATTEMPTS:
                raise
        finally:
            if secret_fd is not None:
                os.close(secret_fd)


def _create(path: str, opts: qemuimg_opts.ImgOptions, *, backing: str | None,
            backing_fmt: str | None, mode: int, secret_fd: int | None) -> None:
    fmt, capacity, prealloc_metadata = opts.fmt, opts.capacity, opts.prealloc
    if fmt == "raw":
        if backing:
            raise storage_error(ErrorCode.NO_SUPPORT,
                                "backing storage not supported for raw volumes")
        if prealloc_metadata:
            raise storage_error(ErrorCode.CONFIG_UNSUPPORTED,
                                "metadata preallocation is not supported for raw volumes")
        _create_raw(path, capacity, opts.allocation, mode)
        return
    if fmt not in WRITABLE:
        raise storage_error(ErrorCode.OPERATION_FAILED,
                            f"creation of non-raw file images is not supported "
                            f"without qemu-img (format {fmt})")
    if backing:
        if prealloc_metadata:
            raise storage_error(ErrorCode.INVALID_ARG,
                                "metadata preallocation conflicts with backing store")
        check_chain(backing, backing_fmt)
    args = ["create", "-f", fmt]
    if backing:
        backing_fmt = backing_fmt or image_info(backing).get("format", "raw")
        args += ["-b", backing]
    if secret_fd is not None:
        args += ["--object", f"secret,id=sec0,file=/dev/fd/{secret_fd}"]
    encrypt = ((["encrypt.format=luks", "encrypt.key-secret=sec0"] if fmt == "qcow2"
                else ["key-secret=sec0"]) if secret_fd is not None else [])
    options = qemuimg_opts.create_options(dataclasses.replace(
        opts, backing_fmt=backing_fmt if backing else None, encryption=encrypt))
    if options:
        args += ["-o", ",".join(options)]
    args.append(path)
    if capacity or not backing:
        args.append(qemuimg_opts.size_arg(capacity))
    try:
        qemu_img(*args, pass_fds=(secret_fd,) if secret_fd is not None else ())
        os.chmod(path, mode)
    except BaseException:
        _unlink_quietly(path)
        raise


def _create_raw(path: str, capacity: int, allocation: int, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise _system(f"Failed to create file '{path}'", exc) from None
    try:
        try:
            if allocation:
                os.posix_fallocate(fd, 0, min(allocation, capacity) or allocation)
            os.ftruncate(fd, capacity)
        except OSError as exc:
            raise _system(f"cannot allocate {allocation} bytes in file '{path}'", exc) from None
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    os.close(fd)


def _image_opts(fmt: str, path: str, secret: str) -> str:
    """``--image-opts`` of a LUKS-encrypted image (qcow2, or a plain LUKS image)."""
    path = path.replace(",", ",,")
    if fmt == "qcow2":
        return f"driver=qcow2,encrypt.key-secret={secret},file.filename={path}"
    return f"driver=luks,key-secret={secret},file.filename={path}"


def _clone_encrypted(src: str, src_fmt: str, path: str, fmt: str, capacity: int,
                     passphrase: bytes | None, src_passphrase: bytes | None) -> None:
    """libvirt's two steps: create the new image (encrypted when asked) at its capacity,
    then ``qemu-img convert -n`` into it, the secrets passed through pipes."""
    create(path, fmt, capacity, 0, passphrase=passphrase)
    fds: list[int] = []
    try:
        args = ["convert", "-n"]
        if passphrase is not None:
            fds.append(_secret_pipe(passphrase))
            args += ["--object", f"secret,id=sec0,file=/dev/fd/{fds[-1]}"]
        if src_passphrase is not None:
            fds.append(_secret_pipe(src_passphrase))
            args += ["--object", f"secret,id=sec1,file=/dev/fd/{fds[-1]}",
                     "--image-opts", _image_opts(src_fmt, src, "sec1")]
        else:
            args += ["-f", src_fmt, src]
        if passphrase is not None:
            args += ["--target-image-opts",
                     _image_opts("qcow2" if fmt == "qcow2" else "luks", path, "sec0")]
        else:
            args += ["-O", fmt, path]
        qemu_img(*args, pass_fds=tuple(fds))
    finally:
        for fd in fds:
            os.close(fd)


def clone(src: str, src_fmt: str, path: str, fmt: str, capacity: int, *,
          mode: int = 0o600, passphrase: bytes | None = None,
          src_passphrase: bytes | None = None, compat: str | None = None,
          cluster_size: int | None = None, features: Sequence[str] | None = None,
          nocow: bool = False) -> None:
    """Create ``path`` as a copy of ``src`` converted to ``fmt``, grown to ``capacity``;
    ``passphrase`` encrypts the copy (LUKS), ``src_passphrase`` opens an encrypted source.
    The new volume's ``<target>`` settings become ``-o`` options as for a create."""
    if os.path.lexists(path):
        raise storage_error(ErrorCode.OPERATION_FAILED,
                            f"volume target path '{path}' already exists")
    if passphrase is not None or src_passphrase is not None:
        try:
            _clone_encrypted(src, src_fmt, path, fmt, capacity, passphrase, src_passphrase)
            os.chmod(path, mode)
        except BaseException:
            _unlink_quietly(path)
            raise
        return
    try:
        # No -U: QEMU's image lock decides (a running guest's writable disk is refused with
        # qemu-img's 'Failed to get shared "write" lock', as libvirt's clone is).
        # raw to raw is a plain copy in libvirt (storageBackendCreateRaw): no options
        options = [] if src_fmt == fmt == "raw" else qemuimg_opts.create_options(
            qemuimg_opts.ImgOptions(fmt, capacity, compat=compat, cluster_size=cluster_size,
                                    features=features, nocow=nocow))
        qemu_img("convert", "-f", src_fmt, "-O", fmt,
                 *(["-o", ",".join(options)] if options else []), src, path)
        cur = int(image_info(path).get("virtual-size") or 0)
        if capacity > cur:
            qemu_img("resize", "-f", fmt, path, str(capacity))
        os.chmod(path, mode)
    except BaseException:
        _unlink_quietly(path)
        raise


def resize(path: str, fmt: str, capacity: int, *, shrink: bool, allocate: bool) -> None:
    """Set the capacity of an image (raw: truncate, or fallocate with ``allocate``)."""
    if fmt == "raw":
        try:
            with open(path, "r+b") as f:
                if allocate and capacity > os.fstat(f.fileno()).st_size:
                    os.posix_fallocate(f.fileno(), 0, capacity)
                os.ftruncate(f.fileno(), capacity)
        except OSError as exc:
            raise _system(f"Failed to truncate volume with path '{path}' to {capacity} bytes",
                          exc) from None
        return
    args = ["resize"]
    if shrink:
        args.append("--shrink")
    if allocate:
        args.append("--preallocation=falloc")
    qemu_img(*args, "-f", fmt, path, str(capacity))
