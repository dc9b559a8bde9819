"""A minimal DHCPv4 client (DISCOVER, OFFER, REQUEST, ACK) on an AF_PACKET socket.

Run inside a network namespace: ``python dhcp_client.py IFACE HOSTNAME [TIMEOUT]``.
Prints ``ADDRESS/PREFIX ROUTER`` and configures nothing; exit status 1 on timeout.
Only for tests: no new dependency, no raw-socket tricks beyond Ethernet framing.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _frame(mac: bytes, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", 68, 67, udp_len, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                     b"\0\0\0\0", b"\xff\xff\xff\xff")
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return b"\xff" * 6 + mac + struct.pack("!H", ETH_P_IP) + ip + udp


def _dhcp(mac: bytes, xid: int, msg_type: int, hostname: str,
          extra: list[tuple[int, bytes]]) -> bytes:
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                       b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
    opts = [(53, bytes([msg_type])), (12, hostname.encode()), (55, bytes([1, 3, 6, 15])),
            *extra]
    body = b"".join(bytes([code, len(val)]) + val for code, val in opts)
    return head + b"\x63\x82\x53\x63" + body + b"\xff"


def _parse(frame: bytes, xid: int) -> tuple[int, bytes, dict[int, bytes]] | None:
    if len(frame) < 14 + 20 + 8 + 240 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[14 + 9] != 17:
        return None
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp + 2:udp + 4])[0] != 68:
        return None
    dhcp = frame[udp + 8:]
    if dhcp[0] != 2 or struct.unpack("!I", dhcp[4:8])[0] != xid:
        return None
    opts: dict[int, bytes] = {}
    i = 240
    while i < len(dhcp) and dhcp[i] != 255:
        if dhcp[i] == 0:
            i += 1
            continue
        code, n = dhcp[i], dhcp[i + 1]
        opts[code] = dhcp[i + 2:i + 2 + n]
        i += 2 + n
    return opts.get(53, b"\0")[0], dhcp[16:20], opts


def lease(iface: str, hostname: str, timeout: float = 20.0) -> tuple[str, int, str]:
    """(address, prefix, router) offered and acknowledged on ``iface``."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((iface, ETH_P_IP))
    mac = s.getsockname()[4][:6]
    xid = random.getrandbits(32)
    deadline = time.monotonic() + timeout
    state, offered, server = 1, b"", b""
    next_send = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:  # (re)send: the bridge port may still be learning
            extra = [] if state == 1 else [(50, offered), (54, server)]
            s.send(_frame(mac, _dhcp(mac, xid, 1 if state == 1 else 3, hostname, extra)))
            next_send = now + 1.0
        s.settimeout(max(0.05, min(next_send, deadline) - time.monotonic()))
        try:
            frame = s.recv(4096)
        except TimeoutError:
            continue
        got = _parse(frame, xid)
        if got is None:
            continue
        kind, yiaddr, opts = got
        if state == 1 and kind == 2:  # OFFER
            offered, server, state, next_send = yiaddr, opts.get(54, b""), 3, 0.0
        elif state == 3 and kind == 5:  # ACK
            mask = opts.get(1, b"\xff\xff\xff\x00")
            prefix = bin(int.from_bytes(mask, "big")).count("1")
            router = socket.inet_ntoa(opts[3][:4]) if len(opts.get(3, b"")) >= 4 else ""
            return socket.inet_ntoa(yiaddr), prefix, router
        elif kind == 6:  # NAK
            state, next_send = 1, 0.0
    raise TimeoutError(f"no DHCP lease on {iface} within {timeout}s")


if __name__ == "__main__":
    try:
        addr, plen, gw = lease(sys.argv[1], sys.argv[2],
                               float(sys.argv[3]) if len(sys.argv) > 3 else 20.0)
    except TimeoutError as exc:
        print(exc, file=sys.stderr)
        os._exit(1)
    print(f"{addr}/{plen} {gw}")
