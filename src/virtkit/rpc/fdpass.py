"""File descriptors on libvirt's RPC unix socket, and the current call's descriptors.

libvirt sends a ``*_WITH_FDS`` message's descriptors right after the message,
one per ``sendmsg``: one byte (``'\\0'``) carrying one ``SCM_RIGHTS`` descriptor
(virSocketSendFD / virSocketRecvFD).  Only unix sockets can carry them
(virNetSocketHasPassFD); on TCP and TLS the sides refuse with libvirt's words.

A call's descriptors reach the procedure through a per-thread context that
the server sets around ``Dispatcher.dispatch``: :func:`dup_received` takes a
copy of one (virNetMessageDupFD), :func:`add_reply_fd` queues one for the reply
(virNetMessageAddFD), which then goes out as ``REPLY_WITH_FDS``.  The RPC layer
closes its own copies when the call ends.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.message import MESSAGE_NUM_FDS_MAX, FrameError

__all__ = [
    "FD_BYTE",
    "CallFDs",
    "add_reply_fd",
    "call_context",
    "close_fds",
    "current",
    "dup_received",
    "received_count",
    "recv_into_with_fds",
    "recv_unsupported",
    "recv_with_fds",
    "require_passing",
    "send_fd",
    "send_unsupported",
]

FD_BYTE = b"\0"
"""The data byte each descriptor travels with."""

_INT = array.array("i").itemsize
# Room for every descriptor one message may announce: a sender that packs more into
# one sendmsg than that loses them (MSG_CTRUNC) and is refused.
_ANCILLARY = socket.CMSG_SPACE(MESSAGE_NUM_FDS_MAX * _INT)


def send_unsupported() -> VirtError:
    """libvirt's error for descriptors on a socket that cannot carry them (virNetSocketSendFD)."""
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                      "Sending file descriptors is not supported on this socket")


def recv_unsupported() -> VirtError:
    """The receiving side's version of :func:`send_unsupported` (virNetSocketRecvFD)."""
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                      "Receiving file descriptors is not supported on this socket")


def close_fds(fds: Iterable[int]) -> None:
    """Close every descriptor in ``fds`` (errors ignored: they are ours to drop)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def recv_into_with_fds(sock: socket.socket, view: memoryview) -> tuple[int, list[int]]:
    """``recv_into`` that also collects ``SCM_RIGHTS`` descriptors (close-on-exec).

    Linux ends a read after the first segment that carried descriptors, so they
    belong to the last bytes returned.  Raises :class:`FrameError` (after closing
    what arrived) when the kernel had to drop descriptors for lack of room."""
    n, ancdata, flags, _ = sock.recvmsg_into([view], _ANCILLARY, socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(data[:len(data) - len(data) % _INT])
            fds.extend(got)
    if flags & socket.MSG_CTRUNC:
        close_fds(fds)
        raise FrameError(f"more than {MESSAGE_NUM_FDS_MAX} file descriptors at once")
    return n, fds


def recv_with_fds(sock: socket.socket, size: int) -> tuple[bytes, list[int]]:
    """``recv`` that also collects descriptors (:func:`recv_into_with_fds`'s rules)."""
    buf = bytearray(size)
    n, fds = recv_into_with_fds(sock, memoryview(buf))
    del buf[n:]
    return bytes(buf), fds


def send_fd(sock: socket.socket, fd: int) -> bool:
    """Send ``fd`` with its byte; False when the socket is full (nothing was sent)."""
    try:
        sent = sock.sendmsg([FD_BYTE],
                            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    except (BlockingIOError, InterruptedError):
        return False
    return sent == len(FD_BYTE)


# --- the current call --------------------------------------------------------------------


@dataclass(slots=True)
class CallFDs:
    """The descriptors of the call a thread is dispatching.

    ``received`` belong to the RPC layer (closed after the call); ``reply`` are
    copies that the reply sends and then closes.  ``can_pass`` is False on
    sockets that carry no descriptors (TCP, TLS)."""

    received: list[int] = field(default_factory=list)
    reply: list[int] = field(default_factory=list)
    can_pass: bool = True


_local = threading.local()


def current() -> CallFDs | None:
    """The context of the call this thread dispatches, if any."""
    ctx: CallFDs | None = getattr(_local, "ctx", None)
    return ctx


@contextlib.contextmanager
def call_context(received: list[int], can_pass: bool) -> Iterator[CallFDs]:
    """Make ``received`` the current call's descriptors for the duration of the block."""
    previous = current()
    ctx = CallFDs(received, [], can_pass)
    _local.ctx = ctx
    try:
        yield ctx
    finally:
        _local.ctx = previous


def dup_received(slot: int) -> int:
    """A close-on-exec copy of the call's descriptor ``slot`` (virNetMessageDupFD)."""
    ctx = current()
    if ctx is None or slot >= len(ctx.received):
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                         f"No FD available at slot {slot}")
    try:
        return os.dup(ctx.received[slot])  # os.dup makes it non-inheritable
    except OSError as e:
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.RPC,
                         f"Unable to duplicate FD {ctx.received[slot]}: {e.strerror}") from None


def received_count() -> int:
    """How many descriptors came with the current call."""
    ctx = current()
    return len(ctx.received) if ctx is not None else 0


def require_passing() -> None:
    """Refuse before any work when the current call's reply cannot carry descriptors."""
    ctx = current()
    if ctx is None or not ctx.can_pass:
        raise send_unsupported()


def add_reply_fd(fd: int) -> None:
    """Send a copy of ``fd`` with the current call's reply (virNetMessageAddFD); the
    caller keeps ``fd``.  Refused on a socket that carries no descriptors."""
    ctx = current()
    if ctx is None or not ctx.can_pass:
        raise send_unsupported()
    if len(ctx.reply) >= MESSAGE_NUM_FDS_MAX:
        raise make_error(ErrorCode.RPC, ErrorDomain.RPC,
                         f"Too many FDs to send {len(ctx.reply) + 1}, "
                         f"expected {MESSAGE_NUM_FDS_MAX} maximum")
    try:
        ctx.reply.append(os.dup(fd))
    except OSError as e:
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.RPC,
                         f"Unable to duplicate FD {fd}: {e.strerror}") from None
