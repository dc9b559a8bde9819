"""Tunnelled migration (VIR_MIGRATE_TUNNELLED): QEMU's migration stream carried over the
libvirt connection between the two daemons, as libvirt's qemu_migration.c does it.

Source (peer-to-peer only): the destination's ``PrepareTunnel3Params`` answers a write
stream on the remote connection; QEMU migrates to a unix socket the daemon listens on in
the domain's run directory (``migrate unix:PATH``), and a pump thread (libvirt's
qemuMigrationSrcIOFunc) moves what it reads into the stream. The stream is finished once
QEMU reports the migration completed and closed the socket; any failure aborts it, and a
failed stream makes QEMU's ``migrate`` fail (the daemon closes QEMU's socket).

Destination: QEMU starts with ``-incoming defer`` and listens with ``migrate-incoming
unix:PATH``; the daemon connects to it and the stream's data (the RPC upload of
``DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS``) is written there (:class:`IncomingTunnel`).
Finish3 then waits for QEMU to have loaded it, as after a native stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from virtkit.constants import DomainMigrateFlags
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.streams import PACKET_MAX, DataStream
from virtkit.types import TypedParams

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain

__all__ = [
    "IncomingTunnel",
    "SourceTunnel",
    "check_flags",
    "check_peer2peer",
    "check_prepare",
    "listen_incoming",
    "refuse_untunnelled_prepare",
    "run_tunnelled",
]

log = logging.getLogger("virtkit.drivers.qemu.migration_tunnel")

F = DomainMigrateFlags
_Q = ErrorDomain.QEMU
_SOURCE_SOCKET = "migrate-out.sock"
_INCOMING_SOCKET = "migrate-in.sock"
_ACCEPT_POLL = 0.2  # seconds between checks for a stop while waiting for QEMU
_DRAIN_LIMIT = 120.0  # hang guard: QEMU closes its socket once it reports "completed"
_CONNECT_LIMIT = 10.0  # hang guard: QEMU's incoming listener appears at once


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


# ---------------------------------------------------------------- libvirt's checks


def check_peer2peer(params: TypedParams, flags: int) -> None:
    """qemuMigrationSrcPerformPeer2Peer's refusals for a tunnelled migration."""
    if not flags & F.TUNNELLED:
        return
    if params.get("migrate_uri"):
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "migration URI is not supported by tunnelled migration")
    if params.get("listen_address"):
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "listen address is not supported by tunnelled migration")
    if params.get("disks_port"):
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "disk port address is not supported by tunnelled migration")
    check_flags(flags)


def check_flags(flags: int) -> None:
    """What a tunnelled migration cannot be combined with (qemuMigrationSrcBeginPhase,
    qemuMigrationDstPrepareAny): offline, post-copy, non-shared storage."""
    if not flags & F.TUNNELLED:
        return
    if flags & F.OFFLINE:
        raise _err(ErrorCode.OPERATION_INVALID, "tunnelled offline migration does not make sense")
    if flags & F.POSTCOPY:
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "post-copy is not supported with tunnelled migration")
    if flags & (F.NON_SHARED_DISK | F.NON_SHARED_INC):
        # libvirt's words (qemuMigrationSrcBeginPhase; migration_nbd.check_begin says the
        # same): virtkit does not carry NBD over the connection
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "migration of non-shared storage is not supported with tunnelled "
                   "migration and this QEMU")


def check_prepare(flags: int) -> None:
    """qemuDomainMigratePrepareTunnel3(Params): the flag must be there."""
    if not flags & F.TUNNELLED:
        raise _err(ErrorCode.INTERNAL_ERROR, "PrepareTunnel called but no TUNNELLED flag set")
    check_flags(flags)


def refuse_untunnelled_prepare(flags: int) -> None:
    """qemuDomainMigratePrepare3(Params) with TUNNELLED: the wrong RPC method."""
    if flags & F.TUNNELLED:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   "Tunnelled migration requested but invalid RPC method called")


# ---------------------------------------------------------------- source


class SourceTunnel:
    """The unix socket QEMU migrates to and the thread pumping it into ``stream``."""

    def __init__(self, run_dir: str, stream: DataStream) -> None:
        self.path = os.path.join(run_dir, _SOURCE_SOCKET)
        self.stream = stream
        self.sent = 0  # bytes moved into the stream
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._eof = threading.Event()
        self._conn: socket.socket | None = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.path)
            os.chmod(self.path, 0o600)
            self._listener.listen(1)
            self._listener.settimeout(_ACCEPT_POLL)
        except OSError as exc:
            self._listener.close()
            raise _err(ErrorCode.SYSTEM_ERROR,
                       f"cannot create the migration tunnel socket {self.path}: "
                       f"{exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name="virtkit-mig-tunnel")
        self._thread.start()

    @property
    def qemu_uri(self) -> str:
        return f"unix:{self.path}"

    def _pump(self) -> None:
        """qemuMigrationSrcIOFunc: QEMU's bytes into the stream until QEMU closes."""
        try:
            conn = self._accept()
            if conn is None:
                return
            with conn:
                while not self._stop.is_set():
                    chunk = conn.recv(PACKET_MAX)
                    if not chunk:
                        self._eof.set()
                        return
                    self.stream.send(chunk)
                    self.sent += len(chunk)
        except Exception as exc:  # any failure ends the tunnel (QEMU sees its socket close)
            if not self._stop.is_set():
                log.info("migration tunnel failed: %s", exc)
                self.error = exc
        finally:
            self._eof.set()  # a failure ends the pump as EOF does (error set)
            with contextlib.suppress(OSError):
                self._listener.close()

    def _accept(self) -> socket.socket | None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            self._conn = conn
            return conn
        return None

    def finish(self) -> None:
        """After QEMU's "completed": drain to QEMU's EOF, then finish the stream (the
        destination daemon confirms it has written every byte)."""
        if not self._eof.wait(_DRAIN_LIMIT):
            self.abort()
            raise _err(ErrorCode.OPERATION_FAILED,
                       "migration out: QEMU did not close the tunnel socket")
        self._thread.join()
        self._cleanup()
        if self.error is not None:
            with contextlib.suppress(VirtError, OSError):
                self.stream.abort()
            raise self._as_virt(self.error)
        self.stream.finish()

    def abort(self) -> None:
        """Stop the pump (QEMU's socket closes: its ``migrate`` fails if still running),
        then abort the stream: the destination's QEMU sees its stream cut."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(30.0)
        self._cleanup()
        with contextlib.suppress(VirtError, OSError):
            self.stream.abort()

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    @staticmethod
    def _as_virt(exc: BaseException) -> VirtError:
        if isinstance(exc, VirtError):
            return exc
        return _err(ErrorCode.OPERATION_FAILED,
                    f"tunnelled migration failed: {getattr(exc, 'strerror', None) or exc}")


def run_tunnelled(dom: QemuDomain, stream: DataStream,
                  migrate: Callable[[str], None]) -> SourceTunnel:
    """Run ``migrate(qemu_uri)`` (QMP ``migrate`` and its wait to the end) with QEMU's
    stream pumped into ``stream``; finish the stream on success, abort it on failure."""
    if not dom.run_dir:
        with contextlib.suppress(VirtError, OSError):
            stream.abort()
        raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
    tunnel = SourceTunnel(dom.run_dir, stream)
    try:
        migrate(tunnel.qemu_uri)
    except BaseException as exc:
        if tunnel.error is not None:  # libvirt keeps QEMU's error; the pump's is logged
            log.info("domain %s: migration failed (%s); tunnel: %s", dom.name, exc,
                     tunnel.error)
        tunnel.abort()
        raise
    tunnel.finish()
    return tunnel


# ---------------------------------------------------------------- destination


class IncomingTunnel:
    """The destination's end: the stream's data written into QEMU's incoming socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock
        self.received = 0

    def _s(self) -> socket.socket:
        if self._sock is None:
            raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.STREAMS,
                             "stream is closed")
        return self._sock

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        return b""  # an upload: nothing comes back

    def send(self, data: bytes) -> None:
        self._s().sendall(data)
        self.received += len(data)

    def finish(self) -> None:
        """The source finished: QEMU reads to the end of its stream."""
        sock, self._sock = self._s(), None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        sock.close()

    def abort(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def listen_incoming(dom: QemuDomain) -> IncomingTunnel:
    """In Prepare, on the ``-incoming defer`` QEMU: ``migrate-incoming unix:PATH`` and
    the daemon's connection to it."""
    assert dom.mon is not None and dom.run_dir
    path = os.path.join(dom.run_dir, _INCOMING_SOCKET)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    dom.mon.execute("migrate-incoming", {"uri": f"unix:{path}"})
    deadline = time.monotonic() + _CONNECT_LIMIT
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return IncomingTunnel(sock)
        except OSError as exc:
            sock.close()
            if time.monotonic() > deadline:
                raise _err(ErrorCode.OPERATION_FAILED,
                           f"cannot connect to the incoming migration socket {path}: "
                           f"{exc.strerror or exc}") from None
            time.sleep(0.05)
