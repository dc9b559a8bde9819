"""The daemon's pid file, with libvirt's ``virPidFileAcquirePath`` semantics.

The file is opened (created 0644), locked with an ``fcntl`` record lock on
its first byte (no waiting), checked to still be the file at
that path (another daemon may have removed and recreated it meanwhile), then
truncated and given our pid, without a newline.  The lock lives as long as
the descriptor, so a daemon that dies leaves a stale file that the next one
simply takes over; one that is alive makes the next one fail with
``Failed to acquire pid file '...': Resource temporarily unavailable``.
Releasing unlinks the file before closing the descriptor, as libvirt does.

On Linux the lock is an open-file-description lock (``F_OFD_SETLK``): it
conflicts with libvirtd's classic ``F_SETLK`` lock both ways, but unlike
that one it is not dropped when the same process opens and closes the file
elsewhere, and two acquirers in one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import struct
from types import TracebackType

__all__ = ["PidFile", "PidFileError", "read_pid"]


class PidFileError(Exception):
    """The pid file could not be acquired; ``str()`` is libvirt's wording."""


class PidFile:
    """One pid file; ``path == ""`` means "no pid file" (libvirt's rule)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, pid: int | None = None) -> None:
        """Lock the file and write ``pid`` (ours by default) into it."""
        if not self.path or self._fd is not None:
            return
        pid = os.getpid() if pid is None else pid
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise PidFileError(f"Failed to open pid file '{self.path}': {e.strerror}") from None
            try:
                opened = os.fstat(fd)
                try:
                    _lock(fd)
                except OSError as e:
                    raise PidFileError(
                        f"Failed to acquire pid file '{self.path}': {e.strerror}") from None
                try:
                    current = os.stat(self.path)
                except FileNotFoundError:
                    os.close(fd)  # removed under us: someone is racing, try again
                    continue
                if current.st_ino != opened.st_ino or current.st_dev != opened.st_dev:
                    os.close(fd)  # recreated under us
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, str(pid).encode("ascii"))
            except PidFileError:
                os.close(fd)
                raise
            except OSError as e:
                os.close(fd)
                raise PidFileError(
                    f"Failed to write to pid file '{self.path}': {e.strerror}") from None
            self._fd = fd
            return

    def release(self) -> None:
        """Remove the file and drop the lock (unlink first, then close)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> PidFile:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


# struct flock: l_type, l_whence, l_start, l_len, l_pid (padded to 32 bytes)
_FLOCK = struct.Struct("@hhqqi4x")
_F_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)


def _lock(fd: int) -> None:
    """Write-lock byte 0 of ``fd`` without waiting (EAGAIN if held)."""
    if _F_OFD_SETLK is None:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        return
    fcntl.fcntl(fd, _F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))


def read_pid(path: str) -> int | None:
    """The pid written in ``path``, or ``None`` if there is no usable one."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(32).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
