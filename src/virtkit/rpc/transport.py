"""Socket connectors for the RPC client: unix, TCP and an external command.

Errors are worded as libvirt's ``virnetsocket.c`` words them and carry
``VIR_ERR_SYSTEM_ERROR`` / ``VIR_FROM_RPC``, e.g. "Failed to connect socket to
'/run/libvirt/libvirt-sock': No such file or directory".
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time

from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain

__all__ = ["CommandSocket", "connect_command", "connect_tcp", "connect_unix", "system_error"]

_UNIX_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux, NUL included
_ERROUT_MAX = 1024  # libvirt reads at most this much of a command's stderr


def system_error(message: str, err: int | None = None) -> VirtError:
    """libvirt's ``virReportSystemError`` in the RPC domain: ``message: strerror(err)``."""
    if err is not None:
        message = f"{message}: {os.strerror(err)}"
    return VirtError(message, code=ErrorCode.SYSTEM_ERROR, domain=ErrorDomain.RPC)


def _errno_of(exc: OSError) -> int:
    if isinstance(exc, TimeoutError) and not exc.errno:
        return errno.ETIMEDOUT
    return exc.errno or errno.EIO


def connect_unix(path: str, *, timeout: float | None = None) -> socket.socket:
    """Connect to a unix socket (a leading ``@`` names an abstract socket)."""
    address: str | bytes = path
    if path.startswith("@"):
        address = b"\0" + path[1:].encode()
    if len(os.fsencode(path)) >= _UNIX_PATH_MAX:
        raise system_error(f"Path {path} too long for unix socket", errno.ENOMEM)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.settimeout(None)
    except OSError as e:
        sock.close()
        raise system_error(f"Failed to connect socket to '{path}'", _errno_of(e)) from None
    return sock


def connect_tcp(host: str, port: int, *, timeout: float | None = None) -> socket.socket:
    """Connect to ``host:port``, trying each resolved address in turn."""
    try:
        infos = socket.getaddrinfo(host, str(port), socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                   socket.AI_ADDRCONFIG | socket.AI_V4MAPPED)
    except socket.gaierror as e:
        raise VirtError(f"Unable to resolve address '{host}' service '{port}': {e.strerror}",
                        code=ErrorCode.SYSTEM_ERROR, domain=ErrorDomain.RPC) from None
    saved = errno.ENOENT
    for family, stype, proto, _, addr in infos:
        try:
            sock = socket.socket(family, stype, proto)
        except OSError as e:
            raise system_error("Unable to create socket", _errno_of(e)) from None
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            sock.settimeout(None)
        except OSError as e:
            saved = _errno_of(e)
            sock.close()
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise system_error(f"unable to connect to server at '{host}:{port}'", saved)


class CommandSocket(socket.socket):
    """One end of a socketpair whose other end is a child's stdin and stdout.

    ``close()`` also reaps the child as libvirt's ``virProcessAbort`` does
    (SIGTERM, then SIGKILL).  ``error_output()`` returns what the child
    wrote on stderr (libvirt appends it to end-of-file errors)."""

    process: subprocess.Popen[bytes] | None
    _errfd: int

    def error_output(self) -> str | None:
        """Up to 1 KiB of the child's stderr that is available now, stripped."""
        if self._errfd < 0:
            return None
        try:
            data = os.read(self._errfd, _ERROUT_MAX)
        except OSError:
            return None
        text = data.decode("utf-8", "replace").rstrip()
        return text or None

    def close(self) -> None:
        super().close()
        if self._errfd >= 0:
            os.close(self._errfd)
            self._errfd = -1
        proc, self.process = self.process, None
        if proc is not None:
            _reap(proc)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    # The child normally exits on its own once its stdin hits EOF; give it a moment.
    deadline = time.monotonic() + 0.2
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def connect_command(argv: list[str]) -> CommandSocket:
    """Spawn ``argv`` with a socketpair as its stdin and stdout (the ``ext``
    and ``ssh`` transports: ``virNetSocketNewConnectCommand``)."""
    if not argv:
        raise VirtError("missing command for the external transport",
                        code=ErrorCode.INVALID_ARG, domain=ErrorDomain.RPC)
    try:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:
        raise system_error("unable to create socket pair", _errno_of(e)) from None
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(argv, stdin=child.fileno(), stdout=child.fileno(),
                                stderr=err_w, close_fds=True)
    except OSError as e:
        parent.close()
        os.close(err_r)
        raise system_error(f"cannot execute binary {argv[0]}", _errno_of(e)) from None
    finally:
        child.close()
        os.close(err_w)
    os.set_blocking(err_r, False)
    sock = CommandSocket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=parent.detach())
    sock.process = proc
    sock._errfd = err_r
    return sock
