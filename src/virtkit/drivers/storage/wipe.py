"""Volume wiping shared by the file and block backends (libvirt's
storageBackendVolWipeLocalFile in storage_util.c).

ZERO writes zeros over the volume (a sparse regular file is truncated to 0 and back to
its size instead); the pattern algorithms run ``scrub -f -p NAME PATH``; TRIM is
refused. As in libvirt 9.0 a qcow2 (or any image format) is zeroed like raw data, so
its header goes with it and the volume reads as ``raw`` afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess

from virtkit.constants import StorageVolWipeAlgorithm as Alg
from virtkit.drivers.storage.backend import storage_error
from virtkit.errors import ErrorCode, VirtError

__all__ = ["SCRUB", "SCRUB_PATTERNS", "wipe_local", "zero_fill"]

SCRUB = "scrub"
_MIB = 1024 * 1024

# algorithm -> scrub's pattern name (-p)
SCRUB_PATTERNS: dict[int, str] = {
    Alg.NNSA: "nnsa", Alg.DOD: "dod", Alg.BSI: "bsi", Alg.GUTMANN: "gutmann",
    Alg.SCHNEIER: "schneier", Alg.PFITZNER7: "pfitzner7", Alg.PFITZNER33: "pfitzner33",
    Alg.RANDOM: "random",
}


def _system(msg: str, exc: OSError) -> VirtError:
    return storage_error(ErrorCode.SYSTEM_ERROR, f"{msg}: {exc.strerror or exc}")


def _scrub(path: str, pattern: str) -> None:
    exe = shutil.which(SCRUB)
    if exe is None:
        raise storage_error(ErrorCode.SYSTEM_ERROR,
                            f"Cannot find '{SCRUB}' in path: No such file or directory")
    argv = [exe, "-f", "-p", pattern, path]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False)
    if proc.returncode != 0:
        detail = " ".join(ln.strip() for ln in proc.stderr.splitlines() if ln.strip())
        raise storage_error(ErrorCode.INTERNAL_ERROR,
                            f"Child process ({shlex.join(argv)}) unexpected exit status "
                            f"{proc.returncode}" + (f": {detail}" if detail else ""))


def zero_fill(path: str, nbytes: int | None = None) -> None:
    """Write zeros from the start of ``path``: ``nbytes`` of them (None: to its end;
    never past its end)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _system(f"Failed to open storage volume with path '{path}'", exc) from None
    try:
        _zero_fd(fd, path, nbytes)
    finally:
        os.close(fd)


def _zero_fd(fd: int, path: str, nbytes: int | None) -> None:
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError as exc:
        raise _system(f"Failed to seek to the start in volume with path '{path}'",
                      exc) from None
    left = end if nbytes is None else min(nbytes, end) if end > 0 else nbytes
    chunk = bytes(_MIB)
    while left > 0:
        size = min(left, _MIB)
        try:
            left -= os.write(fd, chunk[:size])
        except OSError as exc:
            raise _system(f"Failed to write {size} bytes to storage volume with path "
                          f"'{path}'", exc) from None
    try:
        os.fdatasync(fd)
    except OSError as exc:
        raise _system(f"cannot sync data to volume with path '{path}'", exc) from None


def wipe_local(path: str, algorithm: int) -> None:
    """Wipe the file or block device ``path`` with ``algorithm``
    (VIR_STORAGE_VOL_WIPE_ALG_*), with libvirt's errors."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise _system(f"Failed to open storage volume with path '{path}'", exc) from None
    try:
        st = os.fstat(fd)
        if algorithm == Alg.TRIM:
            raise storage_error(ErrorCode.ARGUMENT_UNSUPPORTED,
                                "'trim' algorithm not supported")
        if algorithm != Alg.ZERO:
            pattern = SCRUB_PATTERNS.get(algorithm)
            if pattern is None:
                raise storage_error(ErrorCode.INVALID_ARG, f"unsupported algorithm {algorithm}")
            _scrub(path, pattern)
            return
        if stat.S_ISREG(st.st_mode) and st.st_blocks < st.st_size // 512:
            try:  # sparse: drop every block, keep the size
                os.ftruncate(fd, 0)
            except OSError as exc:
                raise _system(f"Failed to truncate volume with path '{path}' to 0 bytes",
                              exc) from None
            try:
                os.ftruncate(fd, st.st_size)
            except OSError as exc:
                raise _system(f"Failed to truncate volume with path '{path}' to "
                              f"{st.st_size} bytes", exc) from None
            return
        _zero_fd(fd, path, None)
    finally:
        os.close(fd)
