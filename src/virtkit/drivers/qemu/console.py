"""A guest console as a two-way stream: the pseudo-terminal QEMU gave a serial port.

``recv`` waits for guest output (returning ``b""`` only when the console is
gone or :meth:`PtyStream.interrupt` was called, e.g. because the client
finished the stream); ``send`` writes keystrokes. Over RPC the daemon's
stream job pumps it both ways, which is what ``virsh console`` needs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading

from virtkit.errors import ErrorCode, ErrorDomain, make_error
from virtkit.streams import PACKET_MAX

__all__ = ["PtyStream"]

_POLL = 0.2


class PtyStream:
    """Read and write one pty (``/dev/pts/N``) without becoming its controlling process.

    ``interrupt``/``abort`` wake a waiting reader through a pipe; the pty is closed
    only when no read is in progress (by the reader itself otherwise), so a closed
    (or reused) descriptor number is never read."""

    bidirectional = True

    def __init__(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.QEMU,
                             f"Unable to open console device '{path}': "
                             f"{exc.strerror or exc}") from None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False

    def interrupt(self) -> None:
        """Make a waiting :meth:`recv` return ``b""`` now."""
        self._stop.set()
        with self._lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_w, b"x")

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        with self._lock:
            if self._closed:
                return b""
            self._reading = True
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd, self._wake_r], [], [], _POLL)
                if self._stop.is_set():
                    break
                if self._fd not in ready:
                    continue
                try:
                    return os.read(self._fd, nbytes) or b""
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:  # QEMU went away
                        return b""
                    raise
            return b""
        finally:
            with self._lock:
                self._reading = False
                close_now = self._closed
            if close_now:
                self._release()

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            with self._lock:
                if self._closed:
                    return
                try:
                    n = os.write(self._fd, view)
                except BlockingIOError:
                    n = 0
            if n == 0:
                select.select([], [self._fd], [], _POLL)
            view = view[n:]

    def finish(self) -> None:
        self._close()

    def abort(self) -> None:
        self._close()

    def _close(self) -> None:
        self.interrupt()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            reading = self._reading
        if not reading:
            self._release()

    def _release(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
