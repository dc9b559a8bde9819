"""Sparse files: where data and holes lie (SEEK_DATA / SEEK_HOLE), and how to make a hole.

libvirt's sparse streams (``virsh vol-download --sparse``) send holes as their length
instead of their zeros; these are the file-side halves of that, shared by the storage
driver's volume streams and the CLI's vol-upload / vol-download.
"""

from __future__ import annotations

import errno
import functools
import os
from typing import Any

__all__ = ["HOLE_CHUNK", "make_hole", "section_at"]

HOLE_CHUNK = 1 << 20
"""Zeros written at once where a hole must replace existing data."""


def section_at(fd: int, pos: int, end: int) -> tuple[bool, int]:
    """libvirt's virFileInData: is ``pos`` in data, and how long that section lasts.

    ``end`` is where the caller stops (the file size or a length limit). At ``end``
    the answer is ``(False, 0)``. A file system that cannot tell holes (or a
    device) reports everything as data.
    """
    if pos >= end:
        return False, 0
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data after pos: a hole to the end
            return False, end - pos
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return True, end - pos
        raise
    if data > pos:
        return False, min(data, end) - pos
    try:
        hole = os.lseek(fd, pos, os.SEEK_HOLE)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENXIO):
            return True, end - pos
        raise
    return True, min(hole, end) - pos


_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 1, 2


@functools.cache
def _fallocate() -> Any:
    """libc's fallocate64, looked up once (find_library runs ldconfig)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fallocate = libc.fallocate64
    fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    return fallocate


def _punch_hole(fd: int, pos: int, length: int) -> bool:
    """fallocate(PUNCH_HOLE): True when the file system did it."""
    mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    return bool(_fallocate()(fd, mode, pos, length) == 0)


def make_hole(fd: int, pos: int, length: int) -> None:
    """Make ``[pos, pos+length)`` of a regular file a hole that reads as zeros: data there
    is deallocated (or, where the file system cannot punch holes, overwritten with
    zeros), and the file grows to ``pos+length`` (the growth is a hole)."""
    end = pos + length
    size = os.fstat(fd).st_size
    cur = pos
    while cur < min(end, size):
        in_data, n = section_at(fd, cur, min(end, size))
        if in_data and not _punch_hole(fd, cur, n):
            zeros = bytes(min(n, HOLE_CHUNK))
            left = n
            while left:
                written = os.pwrite(fd, zeros[:min(left, len(zeros))], cur + n - left)
                left -= written
        cur += n
    if end > size:
        os.ftruncate(fd, end)
