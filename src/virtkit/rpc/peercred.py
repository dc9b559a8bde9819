"""Who is on the other end of an accepted RPC socket.

Unix sockets give the peer's pid/uid/gid through ``SO_PEERCRED``; TCP peers are
known by address only.  Addresses are written like libvirt's ``sock_addr``
(``"127.0.0.1;40544"``).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = ["PeerIdentity", "format_address", "peer_credentials", "peer_identity"]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Identity of one connected client, fixed at accept time."""

    transport: str
    """``"unix"`` or ``"tcp"`` (later ``"tls"``)."""
    pid: int | None
    uid: int | None
    gid: int | None
    address: str
    """Peer address (``"host;port"``) for TCP, the listening socket's path for unix."""
    local_address: str = ""
    """Our side of the connection, same format as ``address``."""

    def identity_attrs(self) -> dict[str, str]:
        """libvirt's identity attributes known from the socket (unix peers only)."""
        out: dict[str, str] = {}
        if self.uid is not None:
            out["unix-user-id"] = str(self.uid)
            name = self.user_name()
            if name is not None:
                out["user-name"] = name
        if self.gid is not None:
            out["unix-group-id"] = str(self.gid)
            group = self.group_name()
            if group is not None:
                out["group-name"] = group
        if self.pid is not None:
            out["process-id"] = str(self.pid)
        return out

    def user_name(self) -> str | None:
        """The peer's user name (looked up now), or None when unknown."""
        if self.uid is None:
            return None
        import pwd
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return None

    def group_name(self) -> str | None:
        """The peer's primary group name (looked up now), or None when unknown."""
        if self.gid is None:
            return None
        import grp
        try:
            return grp.getgrgid(self.gid).gr_name
        except KeyError:
            return None

    def describe(self) -> str:
        """``"unix pid=1234 uid=0"`` or ``"tcp 127.0.0.1;40544"``: for log lines."""
        if self.pid is not None or self.uid is not None:
            return f"{self.transport} pid={self.pid} uid={self.uid}"
        return f"{self.transport} {self.address}"


def peer_credentials(sock: socket.socket) -> tuple[int, int, int] | None:
    """``(pid, uid, gid)`` of a connected unix socket's peer (``SO_PEERCRED``)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def format_address(addr: object) -> str:
    """libvirt's ``sock_addr`` form of a socket address: ``"host;port"``, or a path."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]};{addr[1]}"
    if isinstance(addr, bytes):
        return addr.decode("utf-8", "replace")
    return str(addr)


def peer_identity(sock: socket.socket, transport: str, path: str = "") -> PeerIdentity:
    """Build the identity of an accepted socket; ``path`` is the unix listener's path."""
    if sock.family == socket.AF_UNIX:
        cred = peer_credentials(sock)
        pid, uid, gid = cred if cred is not None else (None, None, None)
        return PeerIdentity(transport, pid, uid, gid, path, path)
    try:
        remote = format_address(sock.getpeername())
    except OSError:
        remote = "?"
    try:
        local = format_address(sock.getsockname())
    except OSError:
        local = ""
    return PeerIdentity(transport, None, None, None, remote, local)
