"""A guest console as a two-way stream: the pseudo-terminal QEMU gave a serial port.

``recv`` waits for guest output (returning ``b""`` only when the console is
gone or :meth:`PtyStream.interrupt` was called, e.g. because the client
finished the stream); ``send`` writes keystrokes. Over RPC the daemon's
stream job pumps it both ways, which is what ``virsh console`` needs.
"""

from __future__ import annotations

import errno
import os
import select
import threading

from virtkit.errors import ErrorCode, ErrorDomain, make_error
from virtkit.streams import PACKET_MAX

__all__ = ["PtyStream"]

_POLL = 0.2


class PtyStream:
    """Read and write one pty (``/dev/pts/N``) without becoming its controlling process."""

    bidirectional = True

    def __init__(self, path: str) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK
                                           | os.O_CLOEXEC)
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.QEMU,
                             f"Unable to open console device '{path}': "
                             f"{exc.strerror or exc}") from None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def interrupt(self) -> None:
        """Make a waiting :meth:`recv` return ``b""`` now."""
        self._stop.set()

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        while not self._stop.is_set():
            fd = self._fd
            if fd is None:
                return b""
            try:
                ready, _, _ = select.select([fd], [], [], _POLL)
            except (OSError, ValueError):
                return b""
            if not ready:
                continue
            try:
                return os.read(fd, nbytes) or b""
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # the other side (QEMU) went away
                    return b""
                raise
        return b""

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            fd = self._fd
            if fd is None:
                return
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], _POLL)
                continue
            view = view[n:]

    def finish(self) -> None:
        self._close()

    def abort(self) -> None:
        self._close()

    def _close(self) -> None:
        self._stop.set()
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
