"""The transport side of virtkitd: libvirt's virNetServer / virNetServerClient in asyncio.

:class:`Server` accepts connections on unix and TCP sockets, splits each byte
stream into messages with :class:`~virtkit.rpc.message.FrameReader`, runs CALL
messages through a :class:`Dispatcher` in worker threads and writes replies,
asynchronous messages and keepalive traffic back.  It knows nothing about the
procedures of the programs it serves.

Threading model: the event loop owns every socket for reading and accepting.
Output goes through a per-session lock: a worker thread that finishes a call
writes its reply straight to the (non-blocking) socket when nothing is queued
before it, and only hands the remainder to the loop when the socket is full.
That saves a loop wake-up per call, which is most of a trivial call's cost.

Limits per client (docs/security.md): a call holds one of the client's
``max_client_requests`` slots until its reply has been written to the socket,
not merely produced; while more than ``max_client_output`` bytes wait to be
written the session reads nothing more from the client (it resumes below a
quarter of that); events beyond ``_EVENT_BACKLOG`` times that are dropped.
A client that never reads thus stalls itself, never the daemon.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import logging
import os
import queue
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import fdpass
from virtkit.rpc.message import (
    HEADER_SIZE,
    MESSAGE_MAX,
    FrameError,
    FrameReader,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_message,
    error_from_virt,
    remote_error,
    rpc_error,
)
from virtkit.rpc.peercred import PeerIdentity, peer_identity
from virtkit.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROC_PONG,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_PROTOCOL_VERSION,
)

if TYPE_CHECKING:
    from virtkit.rpc.tls import ServerTLS, ServerTLSContext

__all__ = ["MAX_CLIENT_OUTPUT", "Dispatcher", "PeerIdentity", "Server", "ServerStats",
           "Session"]

log = logging.getLogger("virtkit.rpc.server")

_FRAME = struct.Struct(">IIIiiIi")  # len, prog, vers, proc, type, serial, status
_CALL = MessageType.CALL.value
_REPLY = MessageType.REPLY.value
_MESSAGE = MessageType.MESSAGE.value
_STREAM = MessageType.STREAM.value
_STREAM_TYPES = (_STREAM, MessageType.STREAM_HOLE.value)
_CALL_FDS = MessageType.CALL_WITH_FDS.value
_REPLY_FDS = MessageType.REPLY_WITH_FDS.value
_OK = MessageStatus.OK.value
_ERROR = MessageStatus.ERROR.value

_RECV_SIZE = 256 * 1024
_LISTEN_BACKLOG = 1024
_CLOSE_FLUSH_TIMEOUT = 5.0
_LINGER = 2.0  # seconds a refused client gets to read our alert and close
"""How long a closing session may take to flush its queued output."""
MAX_CLIENT_OUTPUT = 4 << 20
"""Default bytes queued for a client above which the server stops reading from it."""
_EVENT_BACKLOG = 4  # events are dropped above this many times max_client_output
_TRIM_AFTER = 8 << 20  # a client that left with this much output backlog (peak): trim


def _keepalive_frame(proc: int) -> bytes:
    return _FRAME.pack(HEADER_SIZE, KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, proc,
                       _MESSAGE, 0, _OK)


_PING = _keepalive_frame(KEEPALIVE_PROC_PING)
_PONG = _keepalive_frame(KEEPALIVE_PROC_PONG)


def _malloc_trim() -> None:
    """Give freed heap memory back to the kernel (glibc keeps it in its arenas)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def _s32(value: int) -> int:
    """libvirt prints u32 header fields with %d."""
    return value - (1 << 32) if value >= 1 << 31 else value


class Dispatcher(Protocol):
    """What the server needs from the layer that knows the programs.

    A dispatcher may also define ``stream_message(session, header, payload)``:
    STREAM and STREAM_HOLE messages are then handed to it, in order, on the
    event loop thread (it must not block).  Without it they are dropped.

    It may define ``runs_inline(session, prog, proc) -> bool`` too: a call for which it
    returns True is dispatched on the event loop thread itself, saving the hand-off
    to a worker (about half of a trivial call's latency).  Only for procedures that
    never block and take no lock a blocked call could hold."""

    def programs(self) -> Iterable[tuple[int, int]]:
        """The ``(program, version)`` pairs served."""
        ...

    def is_high_priority(self, prog: int, proc: int) -> bool:
        """High-priority calls run in their own small pool."""
        ...

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        """Run one CALL (in a worker thread); return the REPLY payload, or None
        to send no reply.  A raised :class:`VirtError` becomes an ERROR reply."""
        ...

    def session_opened(self, session: Session) -> None:
        """A client connected (called on the event loop before its first call; must not block)."""
        ...

    def session_closed(self, session: Session) -> None:
        """A client is gone and none of its calls runs any more (called once, off the loop)."""
        ...


@dataclass
class ServerStats:
    """Counters for logs; updated without locks where only the loop writes them."""

    accepted: int = 0
    rejected: int = 0
    calls: int = 0
    errors: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    """Bytes sent by sessions that have closed (live sessions keep their own count)."""


class _WorkerPool:
    """A fixed-size pool of daemon threads fed by a SimpleQueue.

    Lighter than ThreadPoolExecutor (no Future per job) and its threads are
    daemons, so a driver call stuck forever cannot hang interpreter exit."""

    def __init__(self, name: str, size: int, min_size: int = 0) -> None:
        self._name = name
        self._size = max(0, size)
        self._min = min(max(0, min_size), self._size)
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._queued = 0
        self._serial = 0
        self._stopping = 0  # stop markers queued by resize() and not yet taken
        self._shut = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._shut:
                raise RuntimeError(f"worker pool {self._name} is shut down")
            self._queued += 1
            spawn = self._queued > self._idle and self._threads < self._size
            if spawn:
                serial = self._add_thread()
        self._queue.put((fn, args))
        if spawn:
            self._start(serial)

    # Resizing (the admin API's threadpool parameters): a larger pool starts the threads
    # that queued jobs or ``min_size`` need now; a smaller one queues one stop marker per
    # surplus thread, taken by threads as they become idle.

    @property
    def size(self) -> int:
        """The most threads the pool runs (libvirt's maxWorkers)."""
        return self._size

    @property
    def min_size(self) -> int:
        """Threads started at once and kept (libvirt's minWorkers)."""
        return self._min

    def stats(self) -> tuple[int, int, int]:
        """``(threads, idle threads, jobs waiting for a thread)``."""
        with self._lock:
            return self._threads - self._stopping, self._idle, self._queued

    def resize(self, min_size: int | None = None, size: int | None = None) -> None:
        """Change the bounds; None keeps one.  The caller checks ``min_size <= size``."""
        with self._lock:
            if self._shut:
                return
            if size is not None:
                self._size = size
            if min_size is not None:
                self._min = min_size
            live = self._threads - self._stopping
            backlog = max(0, self._queued - self._idle)
            target = min(self._size, max(self._min, live + backlog))
            serials = [self._add_thread() for _ in range(target - live)]
            surplus = max(0, live - self._size)
            self._stopping += surplus
        for serial in serials:
            self._start(serial)
        for _ in range(surplus):
            self._queue.put(None)

    def _add_thread(self) -> int:
        """Count a new thread (lock held); returns its serial."""
        self._threads += 1
        self._serial += 1
        return self._serial

    def _start(self, serial: int) -> None:
        threading.Thread(target=self._work, name=f"{self._name}-{serial}", daemon=True).start()

    def _work(self) -> None:
        get = self._queue.get
        lock = self._lock
        while True:
            with lock:
                self._idle += 1
            item = get()
            with lock:
                self._idle -= 1
                if item is None:
                    self._threads -= 1
                    if self._stopping:
                        self._stopping -= 1
                    return
                self._queued -= 1
            fn, args = item
            try:
                fn(*args)
            except BaseException:  # the job logs its own errors; this is a last resort
                log.exception("unhandled exception in %s worker", self._name)

    def shutdown(self) -> None:
        """Let every thread exit once the queued jobs are done (does not wait)."""
        with self._lock:
            if self._shut:
                return
            self._shut = True
            n = self._threads
        for _ in range(n):
            self._queue.put(None)


class Session:
    """One connected client.

    ``send_message`` and ``close`` may be called from any thread; everything
    else about the socket happens on the server's event loop."""

    def __init__(self, server: Server, ident: int, sock: socket.socket, peer: PeerIdentity,
                 readonly: bool, auth: str = "none") -> None:
        self.id = ident
        self.peer = peer
        self.readonly = readonly
        # The listener's auth scheme ("none", "sasl", "polkit"); until it succeeds only the
        # auth procedures may run (libvirt's needAuth gate).
        self.auth = auth
        self.authenticated = auth == "none"
        # libvirt's identity attributes (virIdentity): unix-user-id, user-name,
        # unix-group-id, group-name, process-id, x509-distinguished-name, sasl-user-name.
        self.identity: dict[str, str] = peer.identity_attrs()
        self.data: Any = None
        self.connected_at = time.time()
        self.tag = f"client={ident} {peer.describe()}"
        self.bytes_in = 0
        self.bytes_out = 0
        self.calls = 0
        self._server = server
        self._loop = server._loop_or_fail()
        self._sock = sock
        self._fd = sock.fileno()
        self._tls: ServerTLS | None = None  # a TLS listener's client (set before reading)
        self._lingering = ""  # refused and half-closed: why (see _linger_close)
        # Only a unix socket carries file descriptors (rpc/fdpass.py): those received and
        # not yet given to their message, how many ever came, the message still missing
        # some (event loop only).
        self._unix = sock.family == socket.AF_UNIX
        self._fds: collections.deque[int] = collections.deque()
        self._fds_in = 0
        self._fd_wait: Message | None = None
        # Until it authenticates a client may only send small messages (auth calls).
        self._reader = FrameReader(server.max_message if self.authenticated
                                   else min(server.max_message, server.max_anonymous_message),
                                   fd_bytes=self._unix)
        # Shared with worker threads, guarded by _lock.
        self._lock = threading.Lock()
        self._out: collections.deque[bytes | memoryview | _PassFD] = collections.deque()
        self._closed = False        # socket closed; nothing more is sent
        self._closing = False       # close requested: flush, then close
        self._inflight = 0
        self._paused = False        # at max_client_requests (or messages pending)
        self._held = False          # a stream consumer asked to stop reading
        self._drained = threading.Condition(self._lock)  # output queue shrank
        # Output accounting: bytes ever queued (or written at once) and ever written; the
        # queued total at the end of each reply not yet written (its call's slot).
        self._queued_total = 0
        self._sent_total = 0
        self._reply_ends: collections.deque[int] = collections.deque()
        self._over = False          # more than max_client_output queued: not reading
        self.peak_output = 0        # the largest output backlog seen
        self.events_dropped = 0
        # Event loop only.
        self._reading = False
        self._writing = False
        self._torn_down = False
        self._finalized = False
        self._close_reason = "closed by server"
        self._pending: collections.deque[Message] = collections.deque()
        self._last_rx = time.monotonic()
        self._ka_left = server.keepalive_count
        self._ka_handle: asyncio.TimerHandle | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._auth_handle: asyncio.TimerHandle | None = None  # auth_timeout
        self._rate_handle: asyncio.TimerHandle | None = None  # waiting for a call token
        self._tokens = float(server.call_burst)
        self._tokens_at = time.monotonic()

    def __repr__(self) -> str:
        return f"<Session {self.tag}>"

    # --- public, thread-safe ---------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the session is closed or closing."""
        return self._closed or self._closing

    @property
    def is_tls(self) -> bool:
        """True for a client of a TLS listener (SASL then needs no security layer)."""
        return self._tls is not None

    @property
    def inflight(self) -> int:
        """Calls of this client running in workers now."""
        return self._inflight

    @property
    def output_backlog(self) -> int:
        """Bytes queued for this client and not yet written to its socket."""
        return self._queued_total - self._sent_total

    def _busy(self) -> int:
        """Slots in use (lock held): calls running plus replies not yet written."""
        return self._inflight + len(self._reply_ends)

    def send_message(self, prog: int, vers: int, proc: int, payload: bytes) -> None:
        """Queue an asynchronous MESSAGE (an event) for this client; dropped once closed."""
        n = HEADER_SIZE + len(payload)
        if n > self._server.max_message:
            log.warning("%s: dropping %d byte message for procedure %d: too large",
                        self.tag, n, proc)
            return
        if self.output_backlog > self._server.max_client_output * _EVENT_BACKLOG:
            self._drop_event(proc)
            return
        self._send(_FRAME.pack(n, prog, vers, proc, _MESSAGE, 0, _OK) + payload)

    def _drop_event(self, proc: int) -> None:
        """A client that does not read its events loses them (logged at 1, 2, 4, 8 ...)."""
        self.events_dropped += 1
        dropped = self.events_dropped
        if dropped & (dropped - 1) == 0:
            log.warning("%s: not reading; dropped event procedure %d (%d dropped so far)",
                        self.tag, proc, dropped)

    def send_reply(self, header: Header, payload: bytes) -> bool:
        """Send the REPLY to ``header``'s call now (a dispatcher that returns None does this
        itself, e.g. before it starts a stream). False if the session is gone."""
        n = HEADER_SIZE + len(payload)
        return self._send(_FRAME.pack(n, header.prog, header.vers, header.proc, _REPLY,
                                      header.serial, _OK) + payload, reply=True)

    def send_error(self, header: Header, err: VirtError) -> bool:
        """Send an ERROR reply to ``header``'s call now (for a dispatcher that returns
        None, e.g. to close the session right after). False if the session is gone."""
        return self._send(_error_frame(header, err), reply=True)

    def send_stream(self, prog: int, vers: int, proc: int, serial: int, status: int,
                    payload: bytes = b"", mtype: int = _STREAM) -> bool:
        """Queue a STREAM message (CONTINUE: data, empty = EOF; OK: finish confirmation;
        ERROR: a ``remote_error`` payload), or with ``mtype`` STREAM_HOLE a hole.
        Thread-safe; False once closed."""
        n = HEADER_SIZE + len(payload)
        return self._send(_FRAME.pack(n, prog, vers, proc, mtype, serial, status) + payload)

    def wait_output_below(self, limit: int, timeout: float = 30.0) -> bool:
        """Block (a worker thread) until less than ``limit`` bytes wait to be written.

        Stream senders call this before each packet: the client's reading speed
        paces them. False when the session closed or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self._closed or self._closing):
                if self.output_backlog < limit:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._drained.wait(min(left, 0.05))
        return False

    def hold_reading(self, hold: bool) -> None:
        """Stop (or resume) reading this client's socket: backpressure for uploads whose
        consumer is behind. Thread-safe."""
        self._held = hold
        self._on_loop(self._update_reading)

    def start_keepalive(self) -> None:
        """Ping the client after ``keepalive_interval`` s of silence; close it after
        ``keepalive_count`` unanswered pings.  Idempotent."""
        self._on_loop(self._ka_start)

    def close(self, reason: str = "closed by server") -> None:
        """Close after flushing what is already queued (thread-safe, idempotent)."""
        with self._lock:
            if self._closed or self._closing:
                return
            self._closing = True
        self._close_reason = reason
        self._on_loop(self._finish_close)

    # --- output (any thread) ---------------------------------------------

    def _send(self, data: bytes, reply: bool = False, fds: Sequence[int] = ()) -> bool:
        """Write ``data`` now if nothing is queued, else queue it; False if dropped.
        A ``reply`` holds its call's slot until it has been written.  ``fds`` (unix
        sockets only) follow ``data`` and are closed once sent or dropped."""
        need_writer = False
        error: OSError | None = None
        with self._lock:
            if self._closed or self._closing:
                fdpass.close_fds(fds)
                return False
            self.bytes_out += len(data)
            if self._tls is not None:
                data = self._tls.wrap(data)  # the ciphertext, in the order it is queued
                if not data:
                    return True
            self._queued_total += len(data) + len(fds) * len(fdpass.FD_BYTE)
            if fds:
                self._out.append(data)
                self._out.extend(_PassFD(fd) for fd in fds)
                if len(self._out) == len(fds) + 1:  # nothing was queued before: write now
                    error = self._write_out()
                    need_writer = error is None and bool(self._out)
            elif self._out:
                self._out.append(data)
            else:
                try:
                    n = self._sock.send(data)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError as e:
                    error = e
                    n = 0
                self._sent_total += n
                if error is None and n < len(data):
                    self._out.append(memoryview(data)[n:])
                    need_writer = True
            stop_reading = self._account_queued(reply) if error is None else False
        if error is not None:
            self._on_loop(self._teardown, f"write error: {error.strerror or error}")
            return False
        if need_writer:
            self._on_loop(self._start_writer)
        if stop_reading:
            self._on_loop(self._update_reading)
        return True

    def _account_queued(self, reply: bool) -> bool:
        """After queueing (lock held): note an unwritten reply; True when the backlog
        just went over max_client_output (reading must stop)."""
        if not self._out:
            return False
        if reply:
            self._reply_ends.append(self._queued_total)
        backlog = self._queued_total - self._sent_total
        self.peak_output = max(self.peak_output, backlog)
        if self._over or backlog <= self._server.max_client_output:
            return False
        self._over = True
        return True

    def _account_written(self) -> bool:
        """After writing (lock held): release the slots of replies now fully written and
        clear ``_over`` below the low-water mark; True when either happened."""
        ends = self._reply_ends
        sent = self._sent_total
        changed = False
        while ends and ends[0] <= sent:
            ends.popleft()
            changed = True
        if self._over and self._queued_total - sent <= self._server.max_client_output // 4:
            self._over = False
            changed = True
        return changed

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._server._loop_thread:
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):  # loop closed: the server is gone
            self._loop.call_soon_threadsafe(fn, *args)

    # --- event loop side ---------------------------------------------------

    def _start_writer(self) -> None:
        if self._torn_down or self._writing:
            return
        self._writing = True
        self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        with self._lock:
            error = self._write_out()
            freed = self._account_written()
            done = error is not None or not self._out
            if done:
                self._loop.remove_writer(self._fd)
                self._writing = False
            closing = self._closing
        if error is not None:
            self._teardown(f"write error: {error.strerror or error}")
        elif done and closing:
            self._teardown(self._close_reason)
        elif freed:
            self._after_call()  # slots or output room freed: read again

    def _write_out(self) -> OSError | None:
        """Write queued output until the socket is full (lock held)."""
        out = self._out
        start = self._sent_total
        try:
            while out:
                chunk = out[0]
                if isinstance(chunk, _PassFD):
                    try:
                        if not fdpass.send_fd(self._sock, chunk.fd):
                            break
                    except OSError as e:
                        return e
                    out.popleft()
                    fdpass.close_fds((chunk.fd,))
                    self._sent_total += len(fdpass.FD_BYTE)
                    continue
                try:
                    n = self._sock.send(chunk)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    return e
                self._sent_total += n
                if n < len(chunk):
                    out[0] = memoryview(chunk)[n:]
                    break
                out.popleft()
        finally:
            if self._sent_total != start:
                self._drained.notify_all()
        return None

    def _finish_close(self) -> None:
        if self._torn_down:
            return
        self._drop_pending()
        self._update_reading()
        with self._lock:
            flushed = not self._out
        if flushed:
            self._teardown(self._close_reason)
        else:
            self._flush_handle = self._loop.call_later(
                _CLOSE_FLUSH_TIMEOUT, self._teardown, f"{self._close_reason}, output not flushed")

    def _linger_close(self, reason: str) -> None:
        """Refuse a client gently: half-close after what is queued (a TLS alert), then
        discard what it still sends until it closes (or _LINGER seconds). Closing with
        its bytes unread would answer with a reset, and a client writing its own alert
        into a reset connection dies of SIGPIPE instead of reporting the refusal."""
        with self._lock:
            flushed = not self._out
            if flushed:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_WR)
        if not flushed:
            self._teardown(reason)
            return
        self._lingering = reason
        self._flush_handle = self._loop.call_later(_LINGER, self._teardown, reason)

    def _update_reading(self) -> None:
        want = not (self._torn_down or self._closing or self._paused or self._held
                    or self._over or self._server._stopping)
        if want and not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True
        elif not want and self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        server = self._server
        try:
            if self._unix:
                n, fds = fdpass.recv_into_with_fds(self._sock, server._rview)
                if fds:
                    self._fds.extend(fds)
                    self._fds_in += len(fds)
            else:
                n = self._sock.recv_into(server._rbuf)
        except (BlockingIOError, InterruptedError):
            return
        except FrameError as e:
            log.warning("%s: bad file descriptors: %s", self.tag, e)
            self._teardown(f"protocol error: {e}")
            return
        except OSError as e:
            self._teardown(f"read error: {e.strerror or e}")
            return
        if n == 0:
            self._teardown(self._lingering or "eof")
            return
        if self._lingering:  # refused: only waiting for the client to close
            return
        self._last_rx = time.monotonic()
        self._ka_left = server.keepalive_count
        if self._reader.limit != server.max_message and self.authenticated:
            self._reader.limit = server.max_message
        self.bytes_in += n
        server.stats.bytes_in += n
        data: bytes | memoryview = server._rview[:n]
        if self._tls is not None:
            data = self._tls_receive(data)
            if not data:
                return
        try:
            messages = self._reader.feed(data)
        except FrameError as e:
            log.warning("%s: bad frame: %s", self.tag, e)
            self._teardown(f"protocol error: {e}")
            return
        if self._unix and (self._fds_in or self._reader.fd_bytes_seen
                           or (messages and messages[-1].num_fds)):
            ready = self._attach_fds(messages)
            if ready is None:
                return
            messages = ready
        pending = self._pending
        for msg in messages:
            if pending or not self._process(msg):
                pending.append(msg)
            if self._torn_down or self._closing:
                return
        if pending:
            self._update_reading()

    def _attach_fds(self, messages: list[Message]) -> list[Message] | None:
        """Give each ``*_WITH_FDS`` message the descriptors that came with its bytes, in
        order; one whose descriptors are still on their way waits (the reader skips their
        bytes, so nothing after it was parsed).  A descriptor byte without a descriptor
        or a descriptor without its byte closes the client, as libvirt's RecvFD failure
        does.  None when the session was torn down."""
        if self._fds_in != self._reader.fd_bytes_seen:
            log.warning("%s: %d file descriptors received for %d announced", self.tag,
                        self._fds_in, self._reader.fd_bytes_seen)
            self._teardown("protocol error: file descriptors do not match their messages")
            return None
        fds = self._fds
        ready: list[Message] = []
        for msg in ([self._fd_wait] if self._fd_wait is not None else []) + messages:
            if msg.num_fds and not msg.fds:
                if len(fds) < msg.num_fds:
                    self._fd_wait = msg
                    return ready
                msg.fds = [fds.popleft() for _ in range(msg.num_fds)]
            ready.append(msg)
        self._fd_wait = None
        return ready

    def _tls_receive(self, raw: bytes | memoryview) -> bytes:
        """Decrypt ``raw``; first drive the handshake, then libvirt's check of the
        client's certificate, answered by the confirmation byte (or a closed socket)."""
        import ssl

        tls = self._tls
        assert tls is not None
        handshaking = not tls.established
        failure: ssl.SSLError | None = None
        with self._lock:  # the TLS state is shared with workers encrypting replies
            try:
                data = tls.receive(raw)
            except ssl.SSLError as e:
                failure, data = e, b""
        if tls.has_output:
            self._send(b"")  # handshake records, alerts
        if failure is not None:
            log.warning("%s: TLS handshake failed %s", self.tag,
                        getattr(failure, "verify_message", None) or failure.reason or failure)
            self._linger_close("TLS handshake failed" if handshaking else "TLS error")
            return b""
        if handshaking and tls.established:
            try:
                dn = tls.check_peer()
            except VirtError as e:
                log.warning("%s: %s", self.tag, e)
                self._linger_close("client certificate refused")
                return b""
            if dn is not None:
                self.identity["x509-distinguished-name"] = dn
                self.tag += f" dn={dn!r}"
            log.info("%s: TLS established", self.tag)
            self._send(b"\x01")  # libvirt's confirmation: the checks passed
        if tls.closed and not data:
            self._teardown("eof")
        return data

    def _process(self, msg: Message) -> bool:
        """Handle one message; False when it is a call that must wait for a free slot."""
        h = msg.header
        mtype = h.type
        server = self._server
        if mtype in (_CALL, _CALL_FDS):
            if msg.num_fds and not self._unix:  # libvirt's RecvFD fails: client closed
                log.warning("%s: %s", self.tag, fdpass.recv_unsupported().message)
                self._teardown("protocol error: file descriptors on a socket without them")
                return True
            if (h.prog, h.vers) not in server._programs:
                fdpass.close_fds(msg.fds)
                self._send_error(h, rpc_error(
                    f"Cannot find program {_s32(h.prog)} version {_s32(h.vers)}"))
                return True
            if h.status != _OK:
                fdpass.close_fds(msg.fds)
                self._send_error(h, rpc_error(f"Unexpected message status {h.status}"))
                return True
            if server.call_rate > 0 and not self._take_call_token():
                return False
            with self._lock:
                if self._busy() >= server.max_client_requests:
                    self._paused = True
                    return False
                self._inflight += 1
                full = self._busy() >= server.max_client_requests
                if full:
                    self._paused = True
            self.calls += 1
            server.stats.calls += 1
            if server._inline is not None and server._inline(self, h.prog, h.proc):
                server._run_call(self, msg)
            elif (server._prio_pool.size
                  and server._dispatcher.is_high_priority(h.prog, h.proc)):
                server._prio_pool.submit(server._run_call, self, msg)
            else:
                server._pool.submit(server._run_call, self, msg)
            if full:
                self._update_reading()
            return True
        if mtype == _MESSAGE and h.prog == KEEPALIVE_PROGRAM:
            if h.vers != KEEPALIVE_PROTOCOL_VERSION:
                log.debug("%s: ignoring keepalive version %d", self.tag, h.vers)
            elif h.proc == KEEPALIVE_PROC_PING:
                self._send(_PONG)
            elif h.proc != KEEPALIVE_PROC_PONG:
                log.debug("%s: ignoring unknown keepalive message %d", self.tag, h.proc)
            return True
        if mtype in _STREAM_TYPES:
            handler = server._stream_handler
            if handler is None:
                log.debug("%s: dropping stream data serial=%d proc=%d", self.tag, h.serial,
                          h.proc)
            else:
                try:
                    handler(self, h, msg.payload)
                except Exception:
                    log.exception("%s: stream handler failed", self.tag)
                    self._teardown("stream handler error")
            return True
        log.warning("%s: protocol error: unexpected message type %d (prog=%#x proc=%d)",
                    self.tag, mtype, h.prog, h.proc)
        self._teardown(f"protocol error: unexpected message type {mtype}")
        return True

    def _take_call_token(self) -> bool:
        """max_client_call_rate: a token bucket; without a token the session stops reading
        until one accrues (backpressure, like max_client_requests)."""
        server = self._server
        now = time.monotonic()
        self._tokens = min(float(server.call_burst),
                           self._tokens + (now - self._tokens_at) * server.call_rate)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        with self._lock:
            self._paused = True
        if self._rate_handle is None:
            self._rate_handle = self._loop.call_later(
                (1.0 - self._tokens) / server.call_rate, self._rate_resume)
        return False

    def _rate_resume(self) -> None:
        self._rate_handle = None
        self._after_call()

    def _auth_expired(self) -> None:
        """auth_timeout: drop a client that has not authenticated in time."""
        self._auth_handle = None
        if self._torn_down or (self.authenticated
                               and (self._tls is None or self._tls.established)):
            return
        log.warning("%s: not authenticated within %g s, closing", self.tag,
                    self._server.auth_timeout)
        self._teardown("authentication timeout")

    def _send_error(self, h: Header, err: VirtError, mtype: int = _REPLY) -> None:
        self._server._count_error()
        self._send(_error_frame(h, err, mtype), reply=True)

    def _call_done(self) -> None:
        """A worker finished one of this client's calls (worker thread)."""
        with self._lock:
            self._inflight -= 1
            wake = self._paused or self._closed or self._closing
        if wake or self._server._stopping:
            self._on_loop(self._after_call)

    def _after_call(self) -> None:
        if self._torn_down:
            if self._inflight == 0:
                self._server._finalize(self)
            return
        if self._closing:
            return
        pending = self._pending
        while pending:
            if not self._process(pending[0]):
                break
            pending.popleft()
            if self._torn_down:
                return
        with self._lock:
            self._paused = bool(pending) or self._busy() >= self._server.max_client_requests
        self._update_reading()

    def _ka_start(self) -> None:
        server = self._server
        if self._torn_down or self._ka_handle is not None or server.keepalive_interval <= 0:
            return
        idle = time.monotonic() - self._last_rx
        delay = max(0.0, server.keepalive_interval - idle)
        self._ka_handle = self._loop.call_later(delay, self._ka_tick)

    def _ka_tick(self) -> None:
        if self._torn_down:
            return
        interval = self._server.keepalive_interval
        idle = time.monotonic() - self._last_rx
        if idle + 0.001 < interval:
            self._ka_handle = self._loop.call_later(interval - idle, self._ka_tick)
            return
        if self._ka_left <= 0:
            log.warning("%s: no response to %d keepalive messages in %.1f s", self.tag,
                        self._server.keepalive_count, idle)
            self._teardown("keepalive timeout")
            return
        self._ka_left -= 1
        self._send(_PING)
        self._ka_handle = self._loop.call_later(interval, self._ka_tick)

    def _drop_pending(self) -> None:
        """Forget the calls not yet started, closing the descriptors they brought."""
        waiting = [self._fd_wait] if self._fd_wait is not None else []
        for msg in [*self._pending, *waiting]:
            fdpass.close_fds(msg.fds)
            msg.fds = []
        self._pending.clear()
        self._fd_wait = None

    def _teardown(self, reason: str) -> None:
        """Close the socket now (loop thread); queued output is dropped."""
        if self._torn_down:
            return
        self._torn_down = True
        loop = self._loop
        with self._lock:
            self._closed = True
            # drop the queued replies now, not when the session goes
            fdpass.close_fds(c.fd for c in self._out if isinstance(c, _PassFD))
            self._out.clear()
            self._reply_ends.clear()
            self._queued_total = self._sent_total
            self._reader = FrameReader(0)
            self._drained.notify_all()
            if self._reading:
                loop.remove_reader(self._fd)
                self._reading = False
            if self._writing:
                loop.remove_writer(self._fd)
                self._writing = False
            self._sock.close()
            inflight = self._inflight
        for handle in (self._ka_handle, self._flush_handle, self._auth_handle,
                       self._rate_handle):
            if handle is not None:
                handle.cancel()
        self._ka_handle = self._flush_handle = self._auth_handle = self._rate_handle = None
        self._drop_pending()
        fdpass.close_fds(self._fds)
        self._fds.clear()
        server = self._server
        server._sessions.pop(self.id, None)
        server.stats.bytes_out += self.bytes_out
        log.info("%s: disconnected (%s) after %d calls", self.tag, reason, self.calls)
        if inflight == 0:
            server._finalize(self)


class _PassFD:
    """A descriptor queued for a client, sent with its byte after the reply before it."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd


def _error_frame(h: Header, err: VirtError, mtype: int = _REPLY) -> bytes:
    header = Header(h.prog, h.vers, h.proc, mtype, h.serial, _ERROR)
    try:
        return encode_message(header, body_type=remote_error, body=error_from_virt(err))
    except Exception:  # an unencodable error (bad field types): send a generic one
        log.exception("cannot encode error %r", err)
        fallback = make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                              "unable to encode the error")
        return encode_message(header, body_type=remote_error, body=error_from_virt(fallback))


class Server:
    """libvirt's RPC server: listeners, clients, workers, limits."""

    def __init__(self, dispatcher: Dispatcher, *, max_clients: int = 5000,
                 max_anonymous_clients: int = 20, max_workers: int = 20, prio_workers: int = 5,
                 min_workers: int = 0, name: str = "libvirtd",
                 max_client_requests: int = 5, max_message: int = MESSAGE_MAX,
                 keepalive_interval: float = 5, keepalive_count: int = 5,
                 auth_timeout: float = 0, call_rate: float = 0, call_burst: int = 0,
                 max_anonymous_message: int = MESSAGE_MAX,
                 max_client_output: int = MAX_CLIENT_OUTPUT,
                 services_enabled: bool = True) -> None:
        self.max_clients = max_clients
        # Clients that have not authenticated yet (listeners with auth != none).
        self.max_anonymous_clients = max_anonymous_clients
        self.max_client_requests = max(1, max_client_requests)
        self.max_message = max_message
        self.keepalive_interval = keepalive_interval
        self.keepalive_count = keepalive_count
        # Limits of virtkit's own: seconds to authenticate (0: none), calls per second per
        # client (0: no limit) with a burst, the largest message before authentication.
        self.auth_timeout = auth_timeout
        self.call_rate = call_rate
        self.call_burst = max(1, call_burst or int(call_rate))
        self.max_anonymous_message = max_anonymous_message
        # Bytes queued for one client above which it is not read any more (virtkit's own).
        self.max_client_output = max(1, max_client_output)
        self.stats = ServerStats()
        self._dispatcher = dispatcher
        self._programs = frozenset((int(p), int(v)) for p, v in dispatcher.programs())
        self._stream_handler: Callable[[Session, Header, bytes], None] | None = getattr(
            dispatcher, "stream_message", None)
        self._inline: Callable[[Session, int, int], bool] | None = getattr(
            dispatcher, "runs_inline", None)
        self.name = name  #: the server's name in the admin API ("libvirtd", "admin")
        self._pool = _WorkerPool("virtkit-rpc-worker", max(1, max_workers),
                                 min(min_workers, max(1, max_workers)))
        # Priority workers run from the start, as libvirt's; with none, high-priority
        # calls share the ordinary pool.
        self._prio_pool = _WorkerPool("virtkit-rpc-prio", prio_workers, prio_workers)
        if self._pool.min_size:
            self._pool.resize()
        if prio_workers:
            self._prio_pool.resize()
        self._rbuf = bytearray(_RECV_SIZE)
        self._rview = memoryview(self._rbuf)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._sessions: dict[int, Session] = {}
        self._unfinished: set[Session] = set()
        self._close_futures: set[asyncio.Future[None]] = set()
        self._listeners: list[_Listener] = []
        # libvirt's services start disabled in the daemon: sockets listen (clients queue in
        # the backlog) but nothing is accepted until the state drivers are initialised.
        self._services_enabled = services_enabled
        self._next_id = 1
        self._stopping = False
        self._stats_lock = threading.Lock()
        self._stopped: asyncio.Event | None = None

    # --- public ---------------------------------------------------------------

    @property
    def clients(self) -> list[Session]:
        """The sessions connected now."""
        return list(self._sessions.values())

    def unauthenticated_clients(self) -> int:
        """Clients connected now that have not authenticated (yet)."""
        return sum(1 for s in self._sessions.values() if not s.authenticated)

    def client(self, ident: int) -> Session | None:
        """The connected session with id ``ident``, or None."""
        return self._sessions.get(ident)

    def threadpool_parameters(self) -> dict[str, int]:
        """libvirt's threadpool parameters, in virt-admin's order."""
        threads, idle, queued = self._pool.stats()
        prio_threads = self._prio_pool.stats()[0]
        return {"minWorkers": self._pool.min_size, "maxWorkers": self._pool.size,
                "nWorkers": threads, "freeWorkers": idle, "prioWorkers": prio_threads,
                "jobQueueDepth": queued}

    def set_threadpool_parameters(self, min_workers: int | None = None,
                                  max_workers: int | None = None,
                                  prio_workers: int | None = None) -> None:
        """Resize the worker pools at run time (None keeps a value); libvirt's checks
        (``VIR_ERR_INVALID_ARG``): min <= max and max never 0."""
        low = self._pool.min_size if min_workers is None else min_workers
        high = self._pool.size if max_workers is None else max_workers
        if low > high:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             "minWorkers cannot be larger than maxWorkers")
        if max_workers == 0:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             "maxWorkers must not be switched from zero to non-zero"
                             " and vice versa")
        self._pool.resize(min_workers, max_workers)
        if prio_workers is not None:
            self._prio_pool.resize(prio_workers, prio_workers)
        log.info("worker pool now min=%d max=%d prio=%d", self._pool.min_size,
                 self._pool.size, self._prio_pool.size)

    def set_client_limits(self, max_clients: int | None = None,
                          max_unauth: int | None = None) -> None:
        """Change ``max_clients`` / ``max_anonymous_clients`` at run time (None keeps a
        value); new connections are checked against them, connected clients stay."""
        high = self.max_clients if max_clients is None else max_clients
        low = self.max_anonymous_clients if max_unauth is None else max_unauth
        if high < low:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             "The overall maximum number of clients waiting for "
                             "authentication must not be less than the overall maximum "
                             "number of clients")
        self.max_clients = high
        self.max_anonymous_clients = low
        log.info("client limits now max=%d unauth=%d", high, low)

    @property
    def tls_listeners(self) -> int:
        """How many listeners speak TLS."""
        return sum(1 for lst in self._listeners if lst.tls is not None)

    @property
    def addresses(self) -> list[str]:
        """What we listen on: unix paths and ``host;port``."""
        return [lst.name for lst in self._listeners]

    async def listen_unix(self, path: str, *, mode: int = 0o600, group: int | None = None,
                          readonly: bool = False, auth: str = "none") -> None:
        """Listen on a unix socket at ``path`` (stale socket removed, parents created 0755)."""
        self._bind_loop()
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bind under a temporary name and rename: the socket never exists at ``path``
        # with the umask's mode, not even for an instant (no process-wide umask change).
        tmp = os.path.join(parent, f".s{os.getpid() % 100000}")  # no longer than the name
        if len(os.path.basename(tmp)) > len(os.path.basename(path)):
            tmp = path
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            sock.bind(tmp)
            os.chmod(tmp, mode)
            if group is not None:
                os.chown(tmp, -1, group)
            sock.listen(_LISTEN_BACKLOG)
            if tmp != path:
                os.rename(tmp, path)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._add_listener(_Listener(sock, "unix", readonly, path, path, auth))

    async def listen_tcp(self, host: str, port: int, *, readonly: bool = False,
                         auth: str = "none", tls: ServerTLSContext | None = None) -> int:
        """Listen on every address of ``host`` (``""`` = all); returns the bound port.
        With ``tls`` every client speaks TLS from its first byte (libvirt's TLS port)."""
        self._bind_loop()
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        socks: list[socket.socket] = []
        bound = port
        try:
            for family, type_, proto, _, addr in infos:
                try:
                    sock = socket.socket(family, type_, proto)
                except OSError as e:  # e.g. IPv6 disabled: the other families still serve
                    if e.errno != errno.EAFNOSUPPORT:
                        raise
                    log.warning("cannot listen on %s port %d: %s", addr[0], port, e.strerror)
                    continue
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if bound:
                    addr = (addr[0], bound, *addr[2:])
                sock.bind(addr)
                bound = sock.getsockname()[1]
                sock.listen(_LISTEN_BACKLOG)
                sock.setblocking(False)
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        if not socks:
            raise OSError(errno.EADDRNOTAVAIL, f"no address to listen on for {host!r}")
        for sock in socks:
            name = f"{sock.getsockname()[0]};{bound}"
            lst = _Listener(sock, "tcp", readonly, "", name, auth)
            lst.tls = tls
            self._add_listener(lst)
        return bound

    def replace_tls(self, tls: ServerTLSContext) -> int:
        """Use ``tls`` for the handshakes of new clients of every TLS listener; established
        sessions keep the context they started with.  Returns how many listeners use it."""
        swapped = 0
        for lst in self._listeners:
            if lst.tls is not None:
                lst.tls = tls  # one reference swap, read once per accepted client
                swapped += 1
        return swapped

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight calls finish (up to ``grace`` s), then close
        every client; ``session_closed`` has run for each when this returns."""
        if self._loop is None:  # never listened
            self._stopping = True
            self._pool.shutdown()
            self._prio_pool.shutdown()
            if self._stopped is None:
                self._stopped = asyncio.Event()
            self._stopped.set()
            return
        if self._stopping:
            await self.wait_closed()
            return
        self._stopping = True
        deadline = time.monotonic() + grace
        for lst in self._listeners:
            lst.close(self._loop)
        self._listeners.clear()
        for sess in list(self._sessions.values()):
            sess._pending.clear()
            sess._update_reading()
        while any(s._inflight for s in self._unfinished) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        busy = [s for s in self._unfinished if s._inflight]
        if busy:
            log.warning("stopping with %d calls still running", sum(s._inflight for s in busy))
        for sess in list(self._sessions.values()):
            sess.close("server stopping")
        flush_deadline = min(deadline, time.monotonic() + 1.0)
        while self._sessions and time.monotonic() < flush_deadline:
            await asyncio.sleep(0.005)
        for sess in list(self._sessions.values()):
            sess._teardown("server stopping")
        for sess in list(self._unfinished):
            self._finalize(sess)  # calls stuck past the grace period: close anyway
        if self._close_futures:
            await asyncio.wait(list(self._close_futures),
                               timeout=max(0.1, deadline - time.monotonic()))
        self._pool.shutdown()
        self._prio_pool.shutdown()
        s = self.stats
        log.info("server stopped: %d clients served, %d rejected, %d calls, %d errors",
                 s.accepted, s.rejected, s.calls, s.errors)
        if self._stopped is not None:
            self._stopped.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`stop` has finished."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
        await self._stopped.wait()

    # --- internals ------------------------------------------------------------

    def _loop_or_fail(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("server is not listening")
        return self._loop

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._loop_thread = threading.get_ident()
            if self._stopped is None:
                self._stopped = asyncio.Event()
        elif self._loop is not loop:
            raise RuntimeError("server is bound to another event loop")
        if self._stopping:
            raise RuntimeError("server is stopping")

    def update_services(self, enabled: bool) -> None:
        """Accept clients on every listener, or stop accepting (libvirt's
        virNetServerUpdateServices). Called on the server's loop."""
        self._services_enabled = enabled
        loop = self._loop
        if loop is None:  # nothing listens yet: listeners added later follow the flag
            return
        for lst in self._listeners:
            if enabled:
                lst.start(loop, self._on_accept)
            else:
                lst.stop_accepting(loop)

    def _add_listener(self, lst: _Listener) -> None:
        self._listeners.append(lst)
        if self._services_enabled:
            lst.start(self._loop_or_fail(), self._on_accept)
        log.info("listening on %s %s%s%s", lst.transport, lst.name,
                 " (TLS)" if lst.tls is not None else "", " (read-only)" if lst.readonly else "")

    def _on_accept(self, lst: _Listener) -> None:
        for _ in range(64):  # bounded, so one busy listener cannot starve the loop
            try:
                conn, _addr = lst.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("cannot accept on %s: %s; pausing for 1 s", lst.name, e.strerror)
                    lst.pause(self._loop_or_fail(), 1.0, self._on_accept)
                    return
                log.debug("accept on %s failed: %s", lst.name, e)
                continue
            self._add_client(conn, lst)

    def _add_client(self, conn: socket.socket, lst: _Listener) -> None:
        if self._stopping:
            conn.close()
            return
        try:
            conn.setblocking(False)
            if lst.transport == "tcp":
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = peer_identity(conn, lst.transport, lst.path)
        except OSError as e:
            log.debug("dropping connection on %s: %s", lst.name, e)
            conn.close()
            return
        if (lst.auth != "none" and self.max_anonymous_clients
                and self.unauthenticated_clients() >= self.max_anonymous_clients):
            self.stats.rejected += 1
            log.warning("rejecting %s on %s: limit of %d unauthenticated clients reached",
                        peer.describe(), lst.name, self.max_anonymous_clients)
            conn.close()
            return
        if len(self._sessions) >= self.max_clients:
            self.stats.rejected += 1
            log.warning("rejecting %s on %s: limit of %d clients reached", peer.describe(),
                        lst.name, self.max_clients)
            conn.close()
            return
        ident = self._next_id
        self._next_id += 1
        sess = Session(self, ident, conn, peer, lst.readonly, lst.auth)
        tls = lst.tls
        if tls is not None:
            sess._tls = tls.session()
        self._sessions[ident] = sess
        self._unfinished.add(sess)
        self.stats.accepted += 1
        log.info("%s: connected on %s%s", sess.tag, lst.name,
                 " (read-only)" if lst.readonly else "")
        try:
            self._dispatcher.session_opened(sess)
        except Exception:
            log.exception("%s: session_opened failed", sess.tag)
            sess._teardown("session setup failed")
            return
        if (not sess.authenticated or sess._tls is not None) and self.auth_timeout > 0:
            sess._auth_handle = self._loop_or_fail().call_later(self.auth_timeout,
                                                                sess._auth_expired)
        sess._update_reading()

    def _run_call(self, session: Session, msg: Message) -> None:
        """Worker thread: dispatch one call and send its reply."""
        h = msg.header
        reply_fds: list[int] = []
        try:
            try:
                try:
                    with fdpass.call_context(msg.fds, session._unix) as ctx:
                        reply_fds = ctx.reply
                        result = self._dispatcher.dispatch(session, h, msg.payload)
                finally:  # before the reply, as virNetServerProgramDispatchCall closes them
                    fdpass.close_fds(msg.fds)
                    msg.fds = []
            except VirtError as e:
                self._count_error()
                session._send(_error_frame(h, e), reply=True)
                return
            except Exception as e:
                log.exception("%s: procedure %d of program %#x failed", session.tag, h.proc,
                              h.prog)
                self._count_error()
                err = make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                                 f"unexpected {type(e).__name__} in procedure {h.proc}")
                session._send(_error_frame(h, err), reply=True)
                return
            if result is None:
                return
            n = HEADER_SIZE + len(result)
            if n > self.max_message:
                self._count_error()
                session._send(_error_frame(h, rpc_error(
                    f"reply of {n} bytes exceeds maximum {self.max_message}")), reply=True)
                return
            if reply_fds:  # REPLY_WITH_FDS: the count follows the header
                frame = encode_message(Header(h.prog, h.vers, h.proc, _REPLY_FDS, h.serial, _OK),
                                       result, num_fds=len(reply_fds))
                fds, reply_fds = reply_fds, []
                session._send(frame, reply=True, fds=fds)
                return
            session._send(_FRAME.pack(n, h.prog, h.vers, h.proc, _REPLY, h.serial, _OK) + result,
                          reply=True)
        finally:
            fdpass.close_fds(reply_fds)  # not sent: an error, or the dispatcher replied
            fdpass.close_fds(msg.fds)
            msg.fds = []
            session._call_done()

    def _count_error(self) -> None:
        with self._stats_lock:
            self.stats.errors += 1

    def _finalize(self, session: Session) -> None:
        """Run ``session_closed`` once, off the loop (loop thread)."""
        if session._finalized:
            return
        session._finalized = True
        self._unfinished.discard(session)
        loop = self._loop_or_fail()
        fut = loop.run_in_executor(None, self._closed_cb, session)
        self._close_futures.add(fut)
        fut.add_done_callback(self._close_futures.discard)

    def _closed_cb(self, session: Session) -> None:
        try:
            self._dispatcher.session_closed(session)
        except Exception:
            log.exception("%s: session_closed failed", session.tag)
        if session.peak_output >= _TRIM_AFTER:
            _malloc_trim()  # its replies are freed; let the kernel have the pages back


class _Listener:
    """One listening socket and how its clients are treated."""

    def __init__(self, sock: socket.socket, transport: str, readonly: bool, path: str,
                 name: str, auth: str = "none") -> None:
        self.sock = sock
        self.transport = transport
        self.readonly = readonly
        self.auth = auth
        self.tls: ServerTLSContext | None = None
        self.path = path
        self.name = name
        self.inode = os.lstat(path).st_ino if path else 0
        self._active = False
        self._resume: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self, loop: asyncio.AbstractEventLoop,
              on_accept: Callable[[_Listener], None]) -> None:
        if not self._active and not self._closed:
            loop.add_reader(self.sock.fileno(), on_accept, self)
            self._active = True

    def stop_accepting(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self._active:
            loop.remove_reader(self.sock.fileno())
            self._active = False

    def pause(self, loop: asyncio.AbstractEventLoop, delay: float,
              on_accept: Callable[[_Listener], None]) -> None:
        self.stop_accepting(loop)
        self._resume = loop.call_later(delay, self.start, loop, on_accept)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
        if self._active:
            loop.remove_reader(self.sock.fileno())
            self._active = False
        if self.path:
            # Remove our socket file unless someone replaced it meanwhile.
            try:
                if os.lstat(self.path).st_ino == self.inode:
                    os.unlink(self.path)
            except OSError:
                pass
        self.sock.close()
