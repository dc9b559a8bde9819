"""Volume upload and download streams: a file opened at an offset, limited to a length."""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable

from virtkit.drivers.storage.backend import storage_error
from virtkit.errors import ErrorCode
from virtkit.sparse import make_hole, section_at
from virtkit.streams import PACKET_MAX, Hole

__all__ = ["VolumeStream", "check_shared_write_lock", "open_volume_stream"]

# QEMU's image locking (block/file-posix.c): a process holding BLK_PERM_WRITE (bit 1) keeps
# a shared OFD lock on byte RAW_LOCK_PERM_BASE + 1.
_QEMU_WRITE_PERM_BYTE = 100 + 1
_FLOCK = "hhqqi4x"  # struct flock on Linux (l_type, l_whence, l_start, l_len, l_pid)


class VolumeStream:
    """A DataStream over one volume's bytes [offset, offset+length) (length 0: to the end).

    With ``sparse`` it is a :class:`~virtkit.streams.SparseStream`: holes of the file are
    reported as their length (download) and holes sent are skipped (upload)."""

    def __init__(self, fd: int, path: str, offset: int, length: int, writing: bool,
                 on_finish: Callable[[], None] | None = None, *, sparse: bool = False) -> None:
        self._fd: int | None = fd
        self._path = path
        self._pos = offset
        self._left = length if length else None
        self._writing = writing
        self.sparse = sparse
        self._data_left = 0  # sparse reads: bytes of the current data section not yet read
        self.on_finish = on_finish  # called once, when the stream finishes or aborts

    def _require(self) -> int:
        if self._fd is None:
            raise storage_error(ErrorCode.OPERATION_INVALID, "stream is closed")
        return self._fd

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        fd = self._require()
        if self._writing:
            raise storage_error(ErrorCode.OPERATION_INVALID, "stream is not open for reading")
        if self._left is not None:
            nbytes = min(nbytes, self._left)
        if nbytes <= 0:
            return b""
        data = os.pread(fd, nbytes, self._pos)
        self._pos += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def recv_sparse(self, nbytes: int = PACKET_MAX) -> bytes | Hole:
        """Data up to the next hole, or the hole itself (libvirt's virStreamInData)."""
        fd = self._require()
        if self._writing:
            raise storage_error(ErrorCode.OPERATION_INVALID, "stream is not open for reading")
        if not self._data_left:
            # As libvirt's daemon: look for the next hole only once a data section is read.
            end = os.fstat(fd).st_size
            if self._left is not None:
                end = min(end, self._pos + self._left)
            try:
                in_data, length = section_at(fd, self._pos, end)
            except OSError as exc:
                raise storage_error(ErrorCode.SYSTEM_ERROR,
                                    f"Unable to seek in '{self._path}': {exc.strerror}") from None
            if not length:
                return b""
            if not in_data:
                self._skip(length)
                return Hole(length)
            self._data_left = length
        data = self.recv(min(nbytes, self._data_left))
        self._data_left = self._data_left - len(data) if data else 0
        return data

    def send_hole(self, length: int) -> None:
        """Skip ``length`` bytes of the volume, which then read as zeros."""
        fd = self._require()
        if not self._writing:
            raise storage_error(ErrorCode.OPERATION_INVALID, "stream is not open for writing")
        if length < 0 or (self._left is not None and length > self._left):
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                "cannot write to stream: No space left on device")
        try:
            make_hole(fd, self._pos, length)
        except OSError as exc:
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                f"cannot write to stream: {exc.strerror}") from None
        self._skip(length)

    def _skip(self, length: int) -> None:
        self._pos += length
        if self._left is not None:
            self._left -= length

    def send(self, data: bytes) -> None:
        fd = self._require()
        if not self._writing:
            raise storage_error(ErrorCode.OPERATION_INVALID, "stream is not open for writing")
        view = memoryview(data)
        overflow = False
        if self._left is not None and len(view) > self._left:
            # As libvirt's fdstream: what fits is written, then the stream is full.
            view, overflow = view[:self._left], True
        written = len(view)
        try:
            while view:
                n = os.pwrite(fd, view, self._pos)
                self._pos += n
                view = view[n:]
        except OSError as exc:
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                f"cannot write to stream: {exc.strerror}") from None
        if self._left is not None:
            self._left -= written
        if overflow:
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                "cannot write to stream: No space left on device")

    def finish(self) -> None:
        fd = self._require()
        self._fd = None
        try:
            if self._writing:
                os.fsync(fd)
        except OSError as exc:
            raise storage_error(ErrorCode.SYSTEM_ERROR,
                                f"cannot sync data to volume with path '{self._path}': "
                                f"{exc.strerror}") from None
        finally:
            os.close(fd)
            self._finished()

    def _finished(self) -> None:
        cb, self.on_finish = self.on_finish, None
        if cb is not None:
            cb()

    def abort(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
            self._finished()


def check_shared_write_lock(fd: int, path: str) -> None:
    """Refuse to read an image another process (a running QEMU) may write, as ``qemu-img``
    without ``-U`` does ("Failed to get shared "write" lock"); a read-only disk passes."""
    probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _QEMU_WRITE_PERM_BYTE, 1, 0)
    try:
        held = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe))[0]
    except OSError:  # a file system without OFD locks: nobody can hold QEMU's lock
        return
    if held != fcntl.F_UNLCK:
        raise storage_error(ErrorCode.OPERATION_INVALID,
                            f'Failed to get shared "write" lock: is another process using '
                            f"the image [{path}]?")


def open_volume_stream(path: str, offset: int, length: int, writing: bool,
                       on_finish: Callable[[], None] | None = None, *,
                       sparse: bool = False) -> VolumeStream:
    try:
        fd = os.open(path, (os.O_WRONLY if writing else os.O_RDONLY) | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error(ErrorCode.SYSTEM_ERROR,
                            f"Unable to open '{path}': {exc.strerror}") from None
    if not writing:
        try:
            check_shared_write_lock(fd, path)
        except BaseException:
            os.close(fd)
            raise
    return VolumeStream(fd, path, offset, length, writing, on_finish, sparse=sparse)
