"""Talking to the QEMU guest agent over its virtio-serial channel (a unix socket on the host).

Line-delimited JSON, as qemu-ga speaks it: ``guest-sync`` with a random id
first (stale replies from an earlier conversation are skipped until the id
comes back), then the command. ``guest-shutdown`` gets no reply: the guest is
going down, so silence or a closed channel after it counts as success.
"""

from __future__ import annotations

import json
import random
import socket
import time
from typing import Any

from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["AGENT_CHANNEL", "GuestAgent", "agent_socket", "connected_agent_socket"]

AGENT_CHANNEL = "org.qemu.guest_agent.0"
_TIMEOUT = 5.0  # libvirt's default agent response timeout


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


def _agent_channel(defn: Any) -> Any | None:
    """The domain's guest-agent channel with a host-side unix socket, if it has one."""
    devices = defn.devices
    for ch in devices.channels if devices is not None else []:
        target = ch.target
        if target is None or target.type != "virtio" or target.name != AGENT_CHANNEL:
            continue
        if ch.type == "unix" and ch.sources and ch.sources[0].path:
            return ch
    return None


def agent_socket(defn: Any) -> str | None:
    """The host-side socket of the domain's guest-agent channel, if it has one."""
    ch = _agent_channel(defn)
    return str(ch.sources[0].path) if ch is not None else None


def connected_agent_socket(defn: Any) -> str:
    """qemuDomainAgentAvailable: the agent channel's socket, or libvirt's errors at once:
    VIR_ERR_ARGUMENT_UNSUPPORTED without an agent channel, VIR_ERR_AGENT_UNRESPONSIVE while
    the live XML says the guest side is closed (``state='disconnected'``, kept from QEMU's
    VSERPORT_CHANGE; no state known: try it)."""
    ch = _agent_channel(defn)
    if ch is None:
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED, "QEMU guest agent is not configured")
    if ch.target.state == "disconnected":
        raise _err(ErrorCode.AGENT_UNRESPONSIVE, "QEMU guest agent is not connected")
    return str(ch.sources[0].path)


class GuestAgent:
    """One short conversation with the agent."""

    def __init__(self, path: str, timeout: float = _TIMEOUT) -> None:
        self._timeout = timeout
        self._buf = b""
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            self._sock.connect(path)
        except OSError as exc:
            self._sock.close()
            raise _err(ErrorCode.AGENT_UNRESPONSIVE,
                       f"QEMU guest agent is not connected ({exc.strerror or exc})") from None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> GuestAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, cmd: str, args: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        self._sock.sendall(json.dumps(msg).encode() + b"\n")

    def _reply(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _err(ErrorCode.AGENT_UNRESPONSIVE, "QEMU guest agent is not connected")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise _err(ErrorCode.AGENT_UNRESPONSIVE, "the agent channel closed")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line.lstrip(b"\xff"))
        except ValueError:
            return {}
        return reply

    def sync(self) -> None:
        """guest-sync: make sure the next reply answers the next command."""
        token = random.randrange(1, 2**31)
        self._send("guest-sync", {"id": token})
        deadline = time.monotonic() + self._timeout
        while self._reply(deadline).get("return") != token:
            pass

    def execute(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        self.sync()
        self._send(cmd, args)
        reply = self._reply(time.monotonic() + self._timeout)
        if "error" in reply:
            desc = reply["error"].get("desc", "unknown error")
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"unable to execute QEMU agent command '{cmd}': {desc}")
        return reply.get("return")

    def shutdown(self, mode: str = "powerdown") -> None:
        """guest-shutdown: no reply is expected (the guest goes away)."""
        self.sync()
        self._send("guest-shutdown", {"mode": mode})
