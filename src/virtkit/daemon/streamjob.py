"""One client stream on the daemon side: data out (download) or in (upload), with flow control.

The wire protocol (libvirt's ``remote_daemon_stream.c``): after the REPLY
to the opening call, data travels as STREAM messages carrying that call's
serial and procedure. Status CONTINUE carries data (an empty one is the
end of a download); the client ends with OK (finish) or ERROR (abort) and
the daemon confirms with an empty OK. A failure on the daemon's side is a
STREAM ERROR carrying a ``remote_error``.

Flow control: a download waits while more than ``WINDOW`` bytes are queued
for the client (so a slow reader paces the driver); an upload stops reading
the client's socket while more than ``WINDOW`` bytes wait for the driver.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import TYPE_CHECKING

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.message import (
    MessageStatus,
    MessageType,
    error_from_virt,
    remote_error,
    stream_hole,
)
from virtkit.rpc.xdr import XDRError
from virtkit.streams import PACKET_MAX, DataStream, Hole

if TYPE_CHECKING:
    from virtkit.rpc.message import Header
    from virtkit.rpc.server import Session

__all__ = ["WINDOW", "StreamJob"]

log = logging.getLogger("virtkit.daemon.stream")

WINDOW = 4 * PACKET_MAX
_OK, _ERROR, _CONTINUE = (MessageStatus.OK.value, MessageStatus.ERROR.value,
                          MessageStatus.CONTINUE.value)
_HOLE = -1  # inbox status of a STREAM_HOLE message
_STREAM_HOLE = MessageType.STREAM_HOLE.value
_IDLE_TIMEOUT = 3600.0  # how long a finished download waits for the client's finish


class StreamJob:
    """Moves one stream's data between a driver's :class:`DataStream` and a client."""

    def __init__(self, session: Session, header: Header, stream: DataStream,
                 upload: bool) -> None:
        self.session = session
        self.prog, self.vers = header.prog, header.vers
        self.proc, self.serial = header.proc, header.serial
        self.stream = stream
        self.upload = upload
        self._cond = threading.Condition()
        self._inbox: collections.deque[tuple[int, bytes]] = collections.deque()
        self._inbox_bytes = 0
        self._held = False
        self._cancelled = False
        self._done = False
        self._writer: threading.Thread | None = None
        self._writes: collections.deque[bytes] = collections.deque()

    # ------------------------------------------------------------ from the client (loop thread)

    def incoming(self, status: int, payload: bytes, hole: bool = False) -> None:
        """A STREAM (or STREAM_HOLE) message from the client; never blocks."""
        if hole:
            if not self.upload:
                log.debug("stream %d: hole from the client on a download ignored", self.serial)
                return
            status = _HOLE
        elif not self.upload and status == _CONTINUE:
            self._to_driver(payload)  # a console: keystrokes go the other way
            return
        if not self.upload:
            interrupt = getattr(self.stream, "interrupt", None)
            if interrupt is not None:
                interrupt()  # wake a driver read that may wait for ever (a quiet console)
        with self._cond:
            self._inbox.append((status, payload))
            self._inbox_bytes += len(payload)
            if self.upload and self._inbox_bytes > WINDOW and not self._held:
                self._held = True
                self.session.hold_reading(True)
            self._cond.notify_all()

    def close(self) -> None:
        """The client went away (or the job ended): wake and stop the worker."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
        if self._held:
            self._held = False
            self.session.hold_reading(False)
        self._abort_quietly()

    def _abort_quietly(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.stream.abort()
        except (VirtError, OSError) as exc:
            log.debug("abort of stream %d failed: %s", self.serial, exc)

    # ------------------------------------------------------------ the worker

    def run(self) -> None:
        """Move the data until the stream ends (a worker thread)."""
        try:
            if self.upload:
                self._upload()
            else:
                self._download()
        except VirtError as exc:
            self._fail(exc)
        except OSError as exc:
            self._fail(make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.STREAMS,
                                  f"stream I/O failed: {exc.strerror or exc}"))

    def _to_driver(self, payload: bytes) -> None:
        """Client data on a read stream (loop thread): hand it to a writer thread, in order."""
        with self._cond:
            if self._writer is None:
                self._writes = collections.deque()
                self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                                name=f"virtkit-stream-{self.serial}")
                self._writer.start()
            self._writes.append(payload)
            self._cond.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._writes and not (self._cancelled or self._done):
                    self._cond.wait(1.0)
                if not self._writes:
                    return
                data = self._writes.popleft()
            try:
                self.stream.send(data)
            except (VirtError, OSError) as exc:
                log.debug("stream %d: write to the driver failed: %s", self.serial, exc)
                return

    def _download(self) -> None:
        recv_sparse = (getattr(self.stream, "recv_sparse", None)
                       if getattr(self.stream, "sparse", False) else None)
        while True:
            control = self._take_control()
            if control is not None:
                self._end(control)
                return
            chunk = (recv_sparse(PACKET_MAX) if recv_sparse is not None
                     else self.stream.recv(PACKET_MAX))
            if isinstance(chunk, Hole):
                if not self.session.wait_output_below(WINDOW, timeout=_IDLE_TIMEOUT):
                    return
                self._send(_CONTINUE, stream_hole.encode({"length": int(chunk), "flags": 0}),
                           _STREAM_HOLE)
                continue
            if not chunk:
                control = self._take_control()  # an interrupted read, not the end of data
                if control is not None:
                    self._end(control)
                    return
            if not self.session.wait_output_below(WINDOW, timeout=_IDLE_TIMEOUT):
                return  # the client is gone or stuck
            self._send(_CONTINUE, chunk)
            if not chunk:
                break  # the empty packet told the client: end of stream
        status = self._next(timeout=_IDLE_TIMEOUT)
        if status is not None:
            self._end(status[0])

    def _upload(self) -> None:
        while True:
            item = self._next(timeout=_IDLE_TIMEOUT)
            if item is None:
                return
            status, payload = item
            if status == _CONTINUE:
                if payload:
                    self.stream.send(payload)
                continue
            if status == _HOLE:
                self._hole(payload)
                continue
            self._end(status)
            return

    # ------------------------------------------------------------ helpers

    def _next(self, timeout: float) -> tuple[int, bytes] | None:
        with self._cond:
            while not self._inbox:
                if self._cancelled or not self._cond.wait(timeout):
                    return None
            status, payload = self._inbox.popleft()
            self._inbox_bytes -= len(payload)
            resume = self._held and self._inbox_bytes <= WINDOW // 2
            if resume:
                self._held = False
        if resume:
            self.session.hold_reading(False)
        return status, payload

    def _take_control(self) -> int | None:
        """A finish/abort the client sent while we were still sending data."""
        with self._cond:
            if self._cancelled:
                return _ERROR
            for status, _ in self._inbox:
                if status != _CONTINUE:
                    self._inbox.clear()
                    return status
        return None

    def _end(self, status: int) -> None:
        """The client's OK (finish) or ERROR (abort): act on it, then confirm."""
        self._done = True
        if status == _OK:
            self.stream.finish()
        else:
            self.stream.abort()
        if not self._cancelled:
            self._send(_OK, b"")

    def _fail(self, exc: VirtError) -> None:
        log.info("client=%s stream %d failed: %s", self.session.id, self.serial, exc)
        # Abort first, as libvirt's daemon does: once the client reads the error, what
        # the stream held (a volume "in use") is released, so it may retry at once.
        self._abort_quietly()
        self._send(_ERROR, remote_error.encode(error_from_virt(exc)))

    def _hole(self, payload: bytes) -> None:
        """A hole the client sent (libvirt's daemonStreamHandleHole)."""
        send_hole = getattr(self.stream, "send_hole", None)
        if send_hole is None or not getattr(self.stream, "sparse", False):
            raise make_error(ErrorCode.RPC, ErrorDomain.RPC, "Unexpected stream hole")
        try:
            hole = stream_hole.decode(payload)
        except XDRError:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                             "Malformed stream hole packet") from None
        if hole["length"] < 0 or hole["flags"]:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.RPC,
                             "invalid stream hole")
        send_hole(hole["length"])

    def _send(self, status: int, payload: bytes, mtype: int = MessageType.STREAM.value) -> None:
        self.session.send_stream(self.prog, self.vers, self.proc, self.serial, status, payload,
                                 mtype)
