"""The transport-level RPC client: libvirt's ``virNetClient``.

One :class:`Client` owns one connected socket.  A reader thread
("virtkit-rpc-reader") reads frames and hands each REPLY to the thread that
made the call (a lock per pending call, released by the reader); async
MESSAGE frames (events) go through a queue to one dispatch thread
("virtkit-rpc-events"), so an event callback may itself call
:meth:`Client.call`.  Keepalive PINGs from the server are always answered;
:meth:`Client.start_keepalive` adds libvirt's client-side liveness check.

Serial numbers start at 0 and increase by one per call, as libvirt's remote
driver numbers them.  Errors are worded as libvirt words them:

* a call on a closed client: "internal error: client socket is closed";
* the server hung up: "End of file while reading data: Input/output error";
* keepalive expiry: "internal error: connection closed due to keepalive timeout".
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import fdpass
from virtkit.rpc.message import (
    HEADER_SIZE,
    MESSAGE_LEGACY_PAYLOAD_MAX,
    MESSAGE_MAX,
    MESSAGE_NUM_FDS_MAX,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_message,
    remote_error,
    rpc_error,
    stream_hole,
    virt_from_error,
)
from virtkit.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROC_PONG,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_PROTOCOL_VERSION,
)
from virtkit.rpc.transport import system_error
from virtkit.rpc.xdr import XDRError
from virtkit.streams import Hole

__all__ = ["Client", "CloseReason", "Stream"]

log = logging.getLogger(__name__)


class CloseReason(IntEnum):
    """libvirt's ``virConnectCloseReason``."""

    ERROR = 0
    EOF = 1
    KEEPALIVE = 2
    CLIENT = 3


_HDR = struct.Struct(">IIIiiIi")  # len, prog, vers, proc, type, serial, status
_LEN = struct.Struct(">I")
_RECV_SIZE = 262144
_CALL = int(MessageType.CALL)
_REPLY = int(MessageType.REPLY)
_REPLY_WITH_FDS = int(MessageType.REPLY_WITH_FDS)
_CALL_WITH_FDS = int(MessageType.CALL_WITH_FDS)
_NUM_FDS = struct.Struct(">I")
_MESSAGE = int(MessageType.MESSAGE)
_STREAM = int(MessageType.STREAM)
_STREAM_HOLE = int(MessageType.STREAM_HOLE)
_OK = int(MessageStatus.OK)
_ERROR = int(MessageStatus.ERROR)
_CONTINUE = int(MessageStatus.CONTINUE)
_PING = _HDR.pack(HEADER_SIZE, KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION,
                  KEEPALIVE_PROC_PING, _MESSAGE, 0, _OK)
_PONG = _HDR.pack(HEADER_SIZE, KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION,
                  KEEPALIVE_PROC_PONG, _MESSAGE, 0, _OK)

# Items of the dispatch queue: (kind, argument).
_Q_EVENT = 0
_Q_PONG = 1
_Q_CLOSE = 2

StreamHandler = Callable[[Message | None], None]
"""Called on the reader thread with each STREAM / STREAM_HOLE message of one
serial, and with None once when the connection closes.  Must not block."""


def _internal(detail: str) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, detail)


def _closed_error() -> VirtError:
    return _internal("client socket is closed")


class _Pending:
    """One call waiting for its reply.  ``lock`` is held until the reply (or
    the connection's failure) is in; whoever pops the call from the pending
    table owns releasing it."""

    __slots__ = ("error", "fds", "lock", "mtype", "payload", "proc", "status")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.mtype = 0
        self.proc = 0
        self.status = 0
        self.payload = b""
        self.error: VirtError | None = None
        self.fds: list[int] = []  # a REPLY_WITH_FDS's descriptors (the caller's to close)


class Client:
    """A connection to one libvirt-protocol server over ``sock``.

    ``on_message(msg)`` receives async MESSAGE frames (events), in order, on
    the dispatch thread; ``on_close(reason)`` is called once on that thread
    when the connection ends (a :class:`CloseReason`).  Both are plain
    attributes and may be set after construction.  Keepalive messages never
    reach ``on_message``."""

    def __init__(self, sock: socket.socket, *,
                 on_message: Callable[[Message], None] | None = None,
                 on_close: Callable[[int], None] | None = None,
                 max_message: int = MESSAGE_MAX) -> None:
        sock.settimeout(None)  # the reader blocks in recv(); timeouts are per call
        self._sock = sock
        # only a unix socket carries file descriptors (virNetSocketHasPassFD)
        self.can_pass_fds = isinstance(sock, socket.socket) and sock.family == socket.AF_UNIX
        self.on_message = on_message
        self.on_close = on_close
        self._max_message = max_message
        # Held while checking ``_closed``, registering a call and sending it,
        # and while the socket is closed: the socket is never used after close.
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()  # the close decision, abandoned serials
        self._pending: dict[int, _Pending] = {}
        self._abandoned: set[int] = set()  # serials of calls that timed out
        self._streams: dict[int, StreamHandler] = {}
        self._serial = 0
        self._closed = False
        self._close_reason: int | None = None
        self._close_error: VirtError | None = None
        self._last_rx = time.monotonic()
        self._events: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._ka_stop = threading.Event()
        self._ka_thread: threading.Thread | None = None
        self._reader = threading.Thread(target=self._read_loop, name="virtkit-rpc-reader",
                                        daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop,
                                            name="virtkit-rpc-events", daemon=True)
        self._dispatcher.start()
        self._reader.start()

    # --- public API ------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by either side or keepalive)."""
        return self._closed

    @property
    def close_reason(self) -> int | None:
        """The :class:`CloseReason` once closed, else None."""
        return self._close_reason

    @property
    def close_error(self) -> VirtError | None:
        """The error pending calls failed with when the connection closed."""
        return self._close_error

    def is_alive(self) -> bool:
        """The socket is open and keepalive (if started) has not expired."""
        return not self._closed

    def call(self, prog: int, vers: int, proc: int, payload: bytes = b"", *,
             timeout: float | None = None) -> bytes:
        """Send a CALL and return the REPLY payload.  Thread-safe.

        An ERROR reply raises the server's error; a lost connection raises
        the error that closed it.  ``timeout`` (seconds; libvirt has none)
        raises ``VIR_ERR_OPERATION_TIMEOUT`` and discards the late reply."""
        return self._call(prog, vers, proc, payload, timeout, None)

    def call_with_fds(self, prog: int, vers: int, proc: int, payload: bytes,
                      fds: Sequence[int] = (), *,
                      timeout: float | None = None) -> tuple[bytes, list[int]]:
        """A call that sends ``fds`` (``CALL_WITH_FDS``; the caller keeps them) and returns
        the reply's payload and descriptors (now the caller's).  Only on a unix socket:
        elsewhere libvirt's "Sending file descriptors is not supported on this socket"."""
        if fds and not self.can_pass_fds:
            raise fdpass.send_unsupported()
        received: list[int] = []
        payload = self._call(prog, vers, proc, payload, timeout, None, fds, received)
        return payload, received

    def open_stream(self, prog: int, vers: int, proc: int, payload: bytes = b"", *,
                    timeout: float | None = None) -> tuple[bytes, Stream]:
        """Make a call that opens a stream (console, volume upload/download):
        returns the REPLY payload and the :class:`Stream` bound to its serial."""
        stream = Stream(self, prog, vers, proc)
        reply = self._call(prog, vers, proc, payload, timeout, stream)
        return reply, stream

    def register_stream(self, serial: int, handler: StreamHandler) -> None:
        """Route STREAM messages with ``serial`` to ``handler`` (reader thread)."""
        self._streams[serial] = handler

    def unregister_stream(self, serial: int) -> None:
        self._streams.pop(serial, None)

    def send_stream(self, prog: int, vers: int, proc: int, serial: int, status: int,
                    data: bytes = b"", mtype: int = _STREAM) -> None:
        """Send one STREAM message (``status`` CONTINUE with data, OK to
        finish, ERROR to abort), or with ``mtype`` STREAM_HOLE a hole."""
        frame = _HDR.pack(HEADER_SIZE + len(data), prog, vers, proc, mtype, serial,
                          status) + data
        self._send(frame)

    def start_keepalive(self, interval: float = 5.0, count: int = 5) -> None:
        """Ping the server after ``interval`` seconds without incoming data;
        close with reason KEEPALIVE when ``count`` pings went unanswered
        (libvirt's timing: dead after about ``interval * (count + 1)`` of silence)."""
        if interval <= 0 or count < 0:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.RPC,
                             f"invalid keepalive interval {interval} / count {count}")
        with self._state_lock:
            if self._closed:
                raise _closed_error()
            if self._ka_thread is not None:
                raise _internal("keepalive interval already set")
            self._ka_thread = threading.Thread(
                target=self._keepalive_loop, args=(interval, count),
                name="virtkit-rpc-keepalive", daemon=True)
            self._ka_thread.start()

    def close(self) -> None:
        """Close the connection (idempotent): pending calls fail, ``on_close``
        runs once, and every thread and descriptor of this client is gone
        when this returns (unless called from one of the client's threads)."""
        self._abort(CloseReason.CLIENT, _closed_error())
        current = threading.current_thread()
        if current is not self._reader:
            self._reader.join()
        ka = self._ka_thread
        if ka is not None and current is not ka:
            ka.join()
        self._close_socket()
        if current is not self._dispatcher:
            self._dispatcher.join()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls -----------------------------------------------------------

    def _call(self, prog: int, vers: int, proc: int, payload: bytes,
              timeout: float | None, stream: Stream | None, fds: Sequence[int] = (),
              received: list[int] | None = None) -> bytes:
        if HEADER_SIZE + len(payload) > MESSAGE_MAX:
            raise rpc_error("Unable to encode message payload")
        if len(fds) > MESSAGE_NUM_FDS_MAX:
            raise rpc_error(f"Too many FDs to send {len(fds)}, "
                            f"expected {MESSAGE_NUM_FDS_MAX} maximum")
        slot = _Pending()
        with self._send_lock:
            if self._closed:
                raise self._error_when_closed()
            serial = self._serial
            self._serial = (serial + 1) & 0xFFFFFFFF
            self._pending[serial] = slot
            if stream is not None:
                stream.serial = serial
                self._streams[serial] = stream._handle
            try:
                if fds:
                    self._sock.sendall(encode_message(
                        Header(prog, vers, proc, _CALL_WITH_FDS, serial, _OK), payload,
                        num_fds=len(fds)))
                    for fd in fds:  # each with its byte, right after the message
                        if not fdpass.send_fd(self._sock, fd):
                            raise BlockingIOError(errno.EAGAIN, "socket full")
                else:
                    self._sock.sendall(_HDR.pack(HEADER_SIZE + len(payload), prog, vers, proc,
                                                 _CALL, serial, _OK) + payload)
            except OSError as e:
                failure: OSError | None = e
            else:
                failure = None
        if failure is not None:
            self._abort_on_send_error(failure)
        if timeout is None:
            slot.lock.acquire()
        elif not slot.lock.acquire(timeout=timeout):
            with self._state_lock:
                mine = self._pending.pop(serial, None) is slot
                if mine:
                    self._abandoned.add(serial)
            if mine:
                if stream is not None:
                    self._streams.pop(serial, None)
                raise make_error(ErrorCode.OPERATION_TIMEOUT, ErrorDomain.RPC,
                                 f"no reply to procedure {proc} within {timeout} seconds")
            slot.lock.acquire()  # the reply (or the failure) won the race
        got, slot.fds = slot.fds, []
        if slot.error is None and slot.status == _OK and slot.mtype in (_REPLY, _REPLY_WITH_FDS) \
                and slot.proc == proc:
            if received is not None:
                received.extend(got)
            else:
                fdpass.close_fds(got)  # descriptors nobody asked for
            return slot.payload
        fdpass.close_fds(got)
        if stream is not None:
            self._streams.pop(serial, None)
        raise self._reply_error(slot, proc)

    @staticmethod
    def _reply_error(slot: _Pending, proc: int) -> VirtError:
        if slot.error is not None:
            return slot.error
        if slot.mtype not in (_REPLY, _REPLY_WITH_FDS):
            return _internal(f"Unexpected message type {slot.mtype}")
        if slot.proc != proc:
            return _internal(f"Unexpected message proc {slot.proc} != {proc}")
        if slot.status == _ERROR:
            try:
                return virt_from_error(remote_error.decode(slot.payload))
            except XDRError:
                return rpc_error("Unable to decode message payload")
        return rpc_error(f"Unexpected message status {slot.status}")

    def _error_when_closed(self) -> VirtError:
        """A call on a closed client fails with "client socket is closed", except the very
        first: libvirt's caller would have read the hang-up itself (with what an ssh or
        ext command wrote on stderr), so it gets the error that closed the connection."""
        if self._serial == 0 and self._close_error is not None:
            return self._close_error
        return _closed_error()

    def _send(self, frame: bytes) -> None:
        """Send one whole frame, or raise the error that closed the connection."""
        with self._send_lock:
            if self._closed:
                raise _closed_error()
            try:
                self._sock.sendall(frame)
                return
            except OSError as e:
                failure = e
        self._abort_on_send_error(failure)
        raise self._close_error or _closed_error()

    def _abort_on_send_error(self, e: OSError) -> None:
        err = e.errno or errno.EIO
        reason = CloseReason.EOF if err in (errno.EPIPE, errno.ECONNRESET) else CloseReason.ERROR
        self._abort(reason, system_error("Cannot write data", err))

    # --- closing ---------------------------------------------------------

    def _abort(self, reason: int, error: VirtError) -> bool:
        """Mark the connection closed (once): wake the reader, fail pending
        calls with ``error``, queue ``on_close``.  False if already closed."""
        with self._state_lock:
            if self._closed:
                return False
            self._closed = True
            self._close_reason = reason
            self._close_error = error
        self._ka_stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with self._send_lock:  # no caller is between its closed check and its send now
            for serial in list(self._pending):
                slot = self._pending.pop(serial, None)
                if slot is not None:
                    slot.error = error
                    slot.lock.release()
        for serial in list(self._streams):
            handler = self._streams.pop(serial, None)
            if handler is not None:
                self._run_stream_handler(handler, None)
        self._events.put((_Q_CLOSE, reason))
        return True

    def _close_socket(self) -> None:
        with self._send_lock:
            self._sock.close()

    # --- reader thread ---------------------------------------------------

    def _read_loop(self) -> None:
        try:
            reason, error = self._read_frames()
        except Exception as e:  # a bug here must not leave callers hanging
            log.exception("RPC client reader failed")
            reason, error = CloseReason.ERROR, _internal(f"RPC client reader failed: {e}")
        if not self._closed:
            self._abort(reason, error)
        self._close_socket()

    def _eof_error(self, base: str, err: int) -> VirtError:
        errout = getattr(self._sock, "error_output", None)
        detail = errout() if callable(errout) else None
        if detail:
            return system_error(f"{base}: {detail}", err)
        return system_error(base, err)

    def _read_frames(self) -> tuple[int, VirtError]:
        """Read until the connection ends; return the close reason and error."""
        fds: deque[int] = deque()
        try:
            return self._read_frames_fds(fds)
        finally:
            fdpass.close_fds(fds)  # received and never given to a reply

    def _read_frames_fds(self, fds: deque[int]) -> tuple[int, VirtError]:
        """``_read_frames``; ``fds``: descriptors received and not yet given to a reply.

        A REPLY_WITH_FDS's descriptors come one per byte right after it: its call
        completes once they are in (virNetClientIOReadMessage)."""
        sock = self._sock
        recv = sock.recv
        pass_fds = self.can_pass_fds
        skip = 0  # descriptor bytes still due
        waiting: tuple[int, int] | None = None  # (serial, count) of the reply they are for
        pending = self._pending
        limit = self._max_message
        unpack_len = _LEN.unpack_from
        unpack_hdr = _HDR.unpack_from
        partial: bytearray | None = None
        while True:
            try:
                if pass_fds:
                    data, got = fdpass.recv_with_fds(sock, _RECV_SIZE)
                    fds.extend(got)
                else:
                    data = recv(_RECV_SIZE)
            except OSError as e:
                if self._closed:
                    return CloseReason.CLIENT, _closed_error()
                err = e.errno or errno.EIO
                reason = CloseReason.EOF if err == errno.ECONNRESET else CloseReason.ERROR
                return reason, self._eof_error("Cannot recv data", err)
            if not data:
                return CloseReason.EOF, self._eof_error("End of file while reading data",
                                                        errno.EIO)
            self._last_rx = time.monotonic()
            view: bytes | bytearray
            if partial is not None:
                partial += data
                view = partial
            else:
                view = data
            end = len(view)
            pos = 0
            while True:
                if skip:
                    k = min(skip, end - pos)
                    skip -= k
                    pos += k
                    if skip == 0 and waiting is not None:
                        serial, count = waiting
                        waiting = None
                        if len(fds) < count:
                            return CloseReason.ERROR, _internal(
                                "Failed to recv file descriptor")
                        got_fds = [fds.popleft() for _ in range(count)]
                        slot = pending.pop(serial, None)
                        if slot is None:  # abandoned, or failed meanwhile
                            fdpass.close_fds(got_fds)
                        else:
                            slot.fds = got_fds
                            slot.lock.release()
                if end - pos < 4:
                    break
                (length,) = unpack_len(view, pos)
                if length < HEADER_SIZE:
                    return CloseReason.ERROR, rpc_error(
                        f"packet {length} bytes received from server too small, "
                        f"want {HEADER_SIZE}")
                if length > limit:
                    return CloseReason.ERROR, rpc_error(
                        f"packet {length} bytes received from server too large, want {limit}")
                if end - pos < length:
                    break
                _, prog, vers, proc, mtype, serial, status = unpack_hdr(view, pos)
                body = view[pos + HEADER_SIZE:pos + length]
                pos += length
                nfds = 0
                if mtype == _REPLY_WITH_FDS:
                    if len(body) < _NUM_FDS.size:
                        return CloseReason.ERROR, rpc_error(
                            "message with file descriptors lacks the descriptor count")
                    (nfds,) = _NUM_FDS.unpack_from(body, 0)
                    body = body[_NUM_FDS.size:]
                    if nfds > MESSAGE_NUM_FDS_MAX:
                        return CloseReason.ERROR, rpc_error(
                            f"Too many FDs to receive {nfds}, "
                            f"expected {MESSAGE_NUM_FDS_MAX} maximum")
                    if nfds and not pass_fds:
                        return CloseReason.ERROR, fdpass.recv_unsupported()
                if mtype in (_REPLY, _REPLY_WITH_FDS):
                    if nfds:  # completed once its descriptors are in
                        if serial not in pending:
                            with self._state_lock:
                                self._abandoned.discard(serial)
                        slot = pending.get(serial)
                        if slot is not None:
                            slot.mtype, slot.proc, slot.status = mtype, proc, status
                            slot.payload = bytes(body)
                        skip, waiting = nfds, (serial, nfds)
                        continue
                    slot = pending.pop(serial, None)
                    if slot is None:
                        with self._state_lock:
                            late = serial in self._abandoned
                            self._abandoned.discard(serial)
                        if late:
                            continue
                        return CloseReason.ERROR, rpc_error(
                            f"no call waiting for reply with prog {prog} vers {vers} "
                            f"serial {serial}")
                    slot.mtype = mtype
                    slot.proc = proc
                    slot.status = status
                    slot.payload = bytes(body)
                    slot.lock.release()
                elif mtype == _MESSAGE:
                    if prog == KEEPALIVE_PROGRAM and vers == KEEPALIVE_PROTOCOL_VERSION:
                        if proc == KEEPALIVE_PROC_PING:
                            self._events.put((_Q_PONG, None))
                        continue
                    if self.on_message is not None:
                        msg = Message(Header(prog, vers, proc, mtype, serial, status),
                                      bytes(body))
                        self._events.put((_Q_EVENT, msg))
                elif mtype in (_STREAM, _STREAM_HOLE):
                    handler = self._streams.get(serial)
                    if handler is not None:
                        msg = Message(Header(prog, vers, proc, mtype, serial, status),
                                      bytes(body))
                        self._run_stream_handler(handler, msg)
                else:
                    return CloseReason.ERROR, rpc_error(
                        f"got unexpected RPC call prog {prog} vers {vers} proc {proc} "
                        f"type {mtype}")
            if pos == end:
                partial = None
            elif view is partial:
                del partial[:pos]
            else:
                partial = bytearray(view[pos:])

    @staticmethod
    def _run_stream_handler(handler: StreamHandler, msg: Message | None) -> None:
        try:
            handler(msg)
        except Exception:
            log.exception("RPC stream handler failed")

    # --- dispatch thread -------------------------------------------------

    def _dispatch_loop(self) -> None:
        get = self._events.get
        while True:
            kind, arg = get()
            if kind == _Q_EVENT:
                callback = self.on_message
                if callback is not None:
                    try:
                        callback(arg)
                    except Exception:
                        log.exception("RPC event callback failed")
            elif kind == _Q_PONG:
                with contextlib.suppress(VirtError):
                    self._send(_PONG)
            else:
                close_cb = self.on_close
                if close_cb is not None:
                    try:
                        close_cb(arg)
                    except Exception:
                        log.exception("RPC close callback failed")
                return

    # --- keepalive thread ------------------------------------------------

    def _keepalive_loop(self, interval: float, count: int) -> None:
        countdown = count
        start = time.monotonic()
        while not self._ka_stop.wait(max(0.0, start + interval - time.monotonic())):
            now = time.monotonic()
            last = self._last_rx
            if last > start:  # something arrived: the server is alive
                start = last
                countdown = count
                continue
            if now - start < interval:
                continue
            if countdown == 0:
                self._abort(CloseReason.KEEPALIVE,
                            _internal("connection closed due to keepalive timeout"))
                return
            countdown -= 1
            start = now
            # Never wait on a sender stuck on a dead peer: a skipped ping still counts.
            if self._send_lock.acquire(timeout=interval):
                try:
                    if self._closed:
                        return
                    self._sock.sendall(_PING)
                except OSError as e:
                    failure: OSError | None = e
                else:
                    failure = None
                finally:
                    self._send_lock.release()
                if failure is not None:
                    self._abort_on_send_error(failure)
                    return


STREAM_WINDOW = 4 * MESSAGE_LEGACY_PAYLOAD_MAX
"""Unread stream bytes a client buffers before it stops reading the socket."""

_CLOSED = Message(Header(0, 0, 0, _STREAM, 0, _OK), b"")
"""Queued by a finish/abort once it is over: wakes a thread still waiting in recv()."""


class Stream:
    """Client end of a libvirt stream opened by :meth:`Client.open_stream`.

    Data from the server is queued by the reader thread; :meth:`recv`
    returns it chunk by chunk and ``b""`` at end of stream.  Another thread may
    :meth:`finish` or :meth:`abort` while one waits in :meth:`recv`: the server's
    confirmation goes to the closing call and the waiting one gets ``b""``."""

    def __init__(self, client: Client, prog: int, vers: int, proc: int) -> None:
        self._client = client
        self.prog = prog
        self.vers = vers
        self.proc = proc
        self.serial = -1
        self.sparse = False  # opened with a SPARSE_STREAM flag: holes may travel
        self._hole = 0  # bytes of a received hole not yet returned by recv()
        self._queue: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._queued = 0  # bytes received and not yet taken by recv()
        self._closing = False
        self._drained = threading.Condition()
        self._error: VirtError | None = None
        self._eof = False
        self._done = False
        self._sent_data = False  # an upload (or a console): send() has been used
        self._remote_error: VirtError | None = None  # the server's error, seen early

    def _handle(self, msg: Message | None) -> None:
        """Reader thread: queue one message, then hold the reader while more than
        ``STREAM_WINDOW`` bytes wait unread, so the daemon's sender is paced by
        our reader. The hold ends early when another call waits for its reply
        (its reply may be behind the stream data) or the connection closes."""
        self._queue.put(msg)
        if msg is None:
            return
        if msg.header.type == _STREAM and msg.header.status == _ERROR and self._sent_data:
            # an upload learns of the server's failure at its next send (libvirt's
            # virNetClientStreamRaiseError), not only when it finishes
            with contextlib.suppress(XDRError):
                self._remote_error = virt_from_error(remote_error.decode(msg.payload))
        with self._drained:
            self._queued += len(msg.payload)
            client = self._client
            while (self._queued > STREAM_WINDOW and not (self._done or self._closing)
                   and not client._closed
                   and len(client._pending) <= (self.serial in client._pending)):
                self._drained.wait(0.05)

    def send(self, data: bytes) -> None:
        """Send data (split into libvirt's 256 KiB stream packets)."""
        self._check()
        if self._remote_error is not None:
            raise self._remote_error
        self._sent_data = True
        view = memoryview(data)
        for off in range(0, len(view), MESSAGE_LEGACY_PAYLOAD_MAX):
            self._client.send_stream(self.prog, self.vers, self.proc, self.serial, _CONTINUE,
                                     bytes(view[off:off + MESSAGE_LEGACY_PAYLOAD_MAX]))

    def recv(self, timeout: float | None = None) -> bytes:
        """The next chunk from the server; ``b""`` at end of stream. A hole comes as its
        zeros (as libvirt's virStreamRecv without STOP_AT_HOLE)."""
        if not self._hole:
            item = self.recv_sparse(timeout)
            if not isinstance(item, Hole):
                return item
            self._hole = int(item)
        n = min(self._hole, MESSAGE_LEGACY_PAYLOAD_MAX)
        self._hole -= n
        return bytes(n)

    def recv_sparse(self, timeout: float | None = None) -> bytes | Hole:
        """The next chunk, or the :class:`~virtkit.streams.Hole` the server sent;
        ``b""`` at end of stream."""
        self._check()
        if self._hole:
            hole, self._hole = self._hole, 0
            return Hole(hole)
        if self._eof:
            return b""
        while True:
            try:
                msg = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise make_error(ErrorCode.OPERATION_TIMEOUT, ErrorDomain.RPC,
                                 "no stream data") from None
            if msg is _CLOSED:  # another thread finished or aborted the stream
                self._queue.put(msg)  # for any other waiter
                self._eof = True
                return b""
            if msg is not None:
                with self._drained:
                    self._queued -= len(msg.payload)
                    self._drained.notify_all()
            if self._closing and _ends_stream(msg):
                # the confirmation of another thread's finish()/abort(): it is that call's
                # (as libvirt's virNetClientCallDispatchStream hands it over); to us the
                # stream ends here (with the error, if it brings one)
                self._queue.put(msg)
                if msg is not None and msg.header.status == _OK:
                    self._eof = True
                    return b""
            self._take(msg)
            if msg is not None and msg.header.type == _STREAM \
                    and msg.header.status == _CONTINUE:
                if not msg.payload:
                    self._eof = True
                return msg.payload
            if msg is not None and msg.header.type == _STREAM_HOLE:
                return self._take_hole(msg)

    def _take_hole(self, msg: Message) -> Hole:
        """libvirt's virNetClientStreamHandleHole."""
        if not self.sparse:
            self._error = rpc_error("Unexpected stream hole")
            raise self._error
        try:
            hole = stream_hole.decode(msg.payload)
        except XDRError:
            self._error = _internal("Malformed stream hole packet")
            raise self._error from None
        if hole["length"] <= 0:
            self._error = make_error(ErrorCode.INVALID_ARG, ErrorDomain.RPC,
                                     "length in virNetClientStreamSetHole must be "
                                     "greater than zero")
            raise self._error
        return Hole(hole["length"])

    def send_hole(self, length: int) -> None:
        """Tell the server the next ``length`` bytes are a hole (virStreamSendHole)."""
        self._check()
        if not self.sparse:
            raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.RPC,
                             "Skipping is not supported with this stream")
        self._client.send_stream(self.prog, self.vers, self.proc, self.serial, _CONTINUE,
                                 stream_hole.encode({"length": length, "flags": 0}),
                                 _STREAM_HOLE)

    def finish(self, timeout: float | None = None) -> None:
        """Tell the server the upload is complete and wait for its confirmation."""
        self._close_with(_OK, timeout)

    def abort(self, timeout: float | None = None) -> None:
        """Abort the stream and wait for the server's confirmation."""
        self._close_with(_ERROR, timeout)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._done:
            raise _internal("stream is closed")

    def _take(self, msg: Message | None) -> None:
        """Account for a non-data message; raises the stream's error."""
        if msg is None:
            self._error = self._client.close_error or _closed_error()
            self._done = True
            raise self._error
        if msg.header.type == _STREAM and msg.header.status == _ERROR:
            try:
                self._error = virt_from_error(remote_error.decode(msg.payload))
            except XDRError:
                self._error = rpc_error("Unable to decode message payload")
            self._finish_local()
            raise self._error

    def _close_with(self, status: int, timeout: float | None) -> None:
        self._check()
        with self._drained:
            self._closing = True  # from now on the reader never holds for us
            self._drained.notify_all()
        self._client.send_stream(self.prog, self.vers, self.proc, self.serial, status)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    msg = self._queue.get(timeout=left)
                except queue.Empty:
                    raise make_error(ErrorCode.OPERATION_TIMEOUT, ErrorDomain.RPC,
                                     "no stream confirmation") from None
                if msg is _CLOSED:  # another thread's finish()/abort() got there first
                    return
                self._take(msg)
                if msg is not None and msg.header.type == _STREAM and msg.header.status == _OK:
                    return
        finally:
            self._finish_local()
            self._queue.put(_CLOSED)  # a thread waiting in recv() sees the end of stream

    def _finish_local(self) -> None:
        self._done = True
        self._client.unregister_stream(self.serial)


def _ends_stream(msg: Message | None) -> bool:
    """A lost connection, or the server's last STREAM message (OK or ERROR)."""
    return msg is None or (msg.header.type == _STREAM and msg.header.status != _CONTINUE)

