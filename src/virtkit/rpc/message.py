"""libvirt RPC message framing: length word, header, payload, errors.

A message on the wire is ``[len:u32][header:6 x u32][payload]`` where ``len``
counts the whole message including itself.  For ``*_WITH_FDS`` types a u32
count of passed file descriptors follows the header.  :class:`FrameReader`
turns a byte stream into :class:`Message` objects without ever trusting a
length word: one outside [header size, maximum] is refused before any
buffering for it happens.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from virtkit.errors import VirtError, error_class
from virtkit.errtables import ErrorCode, ErrorDomain, ErrorLevel
from virtkit.rpc.remote_procs import remote_nonnull_domain, remote_nonnull_network
from virtkit.rpc.xdr import HYPER, INT, UINT, Optional, String, Struct, XDRError, XDRType

__all__ = [
    "ADMIN_PROGRAM",
    "HEADER_SIZE",
    "KEEPALIVE_PROGRAM",
    "LXC_PROGRAM",
    "MESSAGE_HEADER_MAX",
    "MESSAGE_INITIAL",
    "MESSAGE_LEGACY_PAYLOAD_MAX",
    "MESSAGE_LEN_MAX",
    "MESSAGE_MAX",
    "MESSAGE_NUM_FDS_MAX",
    "MESSAGE_PAYLOAD_MAX",
    "MESSAGE_STRING_MAX",
    "QEMU_PROGRAM",
    "REMOTE_PROGRAM",
    "FrameError",
    "FrameReader",
    "Header",
    "Message",
    "MessageStatus",
    "MessageType",
    "decode_message",
    "encode_message",
    "error_from_virt",
    "remote_error",
    "rpc_error",
    "stream_hole",
    "virt_from_error",
]

# Programs and versions (every version is 1).
REMOTE_PROGRAM = 0x20008086
QEMU_PROGRAM = 0x20008087
LXC_PROGRAM = 0x00068000
KEEPALIVE_PROGRAM = 0x6B656570
ADMIN_PROGRAM = 0x06900690
PROTOCOL_VERSION = 1

# Limits (virnetprotocol.x).
MESSAGE_INITIAL = 65536
MESSAGE_LEGACY_PAYLOAD_MAX = 262120
MESSAGE_MAX = 33554432
MESSAGE_HEADER_MAX = 24
MESSAGE_PAYLOAD_MAX = 33554408
MESSAGE_LEN_MAX = 4
MESSAGE_STRING_MAX = 4194304
MESSAGE_NUM_FDS_MAX = 32
HEADER_SIZE = MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX
"""Bytes of a message with an empty payload (length word + header): 28."""


class MessageType(IntEnum):
    CALL = 0
    REPLY = 1
    MESSAGE = 2
    STREAM = 3
    CALL_WITH_FDS = 4
    REPLY_WITH_FDS = 5
    STREAM_HOLE = 6


class MessageStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONTINUE = 2


_FDS_TYPES = (MessageType.CALL_WITH_FDS, MessageType.REPLY_WITH_FDS)


class FrameError(XDRError):
    """A malformed frame: bad length word, short header, bad FD count."""


_HDR = struct.Struct(">IIIiiIi")  # len, prog, vers, proc, type, serial, status
_HDR_ONLY = struct.Struct(">IIiiIi")
_LEN = struct.Struct(">I")
_FDS = struct.Struct(">I")


@dataclass(slots=True)
class Header:
    """``virNetMessageHeader``.  ``type`` and ``status`` are kept as plain
    ints (compare with :class:`MessageType` / :class:`MessageStatus`):
    an unknown value is the dispatcher's business, not the framer's."""

    prog: int
    vers: int
    proc: int
    type: int = MessageType.CALL
    serial: int = 0
    status: int = MessageStatus.OK

    def encode(self) -> bytes:
        """The 24 header bytes (without the length word)."""
        try:
            return _HDR_ONLY.pack(self.prog, self.vers, self.proc, self.type, self.serial,
                                  self.status)
        except struct.error as e:
            raise FrameError(f"cannot encode header: {e}") from None


@dataclass(slots=True)
class Message:
    """One decoded frame: header, raw payload bytes, and the FD count
    announced by ``*_WITH_FDS`` messages (0 otherwise).  ``fds`` holds the
    descriptors received for it (``virtkit.rpc.fdpass``; owned by whoever holds
    the message)."""

    header: Header
    payload: bytes = b""
    num_fds: int = 0
    fds: list[int] = field(default_factory=list)

    def decode_payload(self, xdr_type: XDRType) -> Any:
        """Decode the payload as ``xdr_type`` (exactly, no trailing bytes)."""
        return xdr_type.decode(self.payload)


def encode_message(header: Header, payload: bytes | None = None, *,
                   body_type: XDRType | None = None, body: Any = None,
                   num_fds: int = 0) -> bytes:
    """Frame one message.  The payload is either raw bytes (streams) or
    ``body`` encoded as ``body_type``, written straight into the frame."""
    buf = bytearray(HEADER_SIZE)
    try:
        _HDR.pack_into(buf, 0, 0, header.prog, header.vers, header.proc, header.type,
                       header.serial, header.status)
    except struct.error as e:
        raise FrameError(f"cannot encode header: {e}") from None
    if header.type in _FDS_TYPES:
        if not 0 <= num_fds <= MESSAGE_NUM_FDS_MAX:
            raise FrameError(f"{num_fds} file descriptors exceed maximum {MESSAGE_NUM_FDS_MAX}")
        buf += _FDS.pack(num_fds)
    if body_type is not None:
        body_type.encode_into(buf, body)
    elif payload:
        buf += payload
    if len(buf) > MESSAGE_MAX:
        raise FrameError(f"message of {len(buf)} bytes exceeds maximum {MESSAGE_MAX}")
    _LEN.pack_into(buf, 0, len(buf))
    return bytes(buf)


def _parse(frame: bytes | bytearray | memoryview, start: int, end: int) -> Message:
    _, prog, vers, proc, mtype, serial, status = _HDR.unpack_from(frame, start)
    pos = start + HEADER_SIZE
    nfds = 0
    if mtype in _FDS_TYPES:
        if end - pos < 4:
            raise FrameError("message with file descriptors lacks the descriptor count")
        (nfds,) = _FDS.unpack_from(frame, pos)
        pos += 4
        if nfds > MESSAGE_NUM_FDS_MAX:
            raise FrameError(f"{nfds} file descriptors exceed maximum {MESSAGE_NUM_FDS_MAX}")
    return Message(Header(prog, vers, proc, mtype, serial, status), bytes(frame[pos:end]), nfds)


def _check_length(length: int, limit: int) -> None:
    if length < HEADER_SIZE:
        raise FrameError(f"packet of {length} bytes is too small (minimum {HEADER_SIZE})")
    if length > limit:
        raise FrameError(f"packet of {length} bytes is too large (maximum {limit})")


def decode_message(frame: bytes | bytearray | memoryview, *, limit: int = MESSAGE_MAX) -> Message:
    """Decode one complete frame (length word included)."""
    if len(frame) < MESSAGE_LEN_MAX:
        raise FrameError("frame shorter than its length word")
    (length,) = _LEN.unpack_from(frame, 0)
    _check_length(length, limit)
    if length != len(frame):
        raise FrameError(f"length word says {length} bytes but the frame has {len(frame)}")
    return _parse(frame, 0, length)


class FrameReader:
    """Incremental frame reader: ``feed()`` bytes as they arrive, get back the
    complete messages.  After a :class:`FrameError` the stream cannot be
    resynchronised and every later ``feed()`` raises again.

    With ``fd_bytes`` (a unix socket that passes descriptors) the bytes that carry
    a ``*_WITH_FDS`` message's descriptors (one each, right after the message:
    libvirt's virSocketSendFD) are skipped and counted in ``fd_bytes_seen``."""

    def __init__(self, limit: int = MESSAGE_MAX, *, fd_bytes: bool = False) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._error: FrameError | None = None
        self._fd_bytes = fd_bytes
        self._skip = 0  # descriptor bytes still due after the last message
        self.fd_bytes_seen = 0

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def wanted(self) -> int:
        """How many more bytes complete the next message (or its length word)."""
        buf = self._buf
        if self._skip:
            return self._skip
        if len(buf) < MESSAGE_LEN_MAX:
            return MESSAGE_LEN_MAX - len(buf)
        length: int = _LEN.unpack_from(buf, 0)[0]
        return max(length - len(buf), 0)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        out: list[Message] = []
        pos = 0
        if buf:
            buf += data
            view: bytes | bytearray | memoryview = buf
        else:
            view = data  # common case: parse straight from the caller's bytes
        end = len(view)
        try:
            while True:
                if self._skip:
                    k = min(self._skip, end - pos)
                    self._skip -= k
                    self.fd_bytes_seen += k
                    pos += k
                if end - pos < MESSAGE_LEN_MAX:
                    break
                (length,) = _LEN.unpack_from(view, pos)
                _check_length(length, self.limit)
                if end - pos < length:
                    break
                msg = _parse(view, pos, pos + length)
                out.append(msg)
                pos += length
                if self._fd_bytes:
                    self._skip = msg.num_fds
        except FrameError as e:
            self._error = e
            self._buf = bytearray()
            raise
        if view is buf:
            del buf[:pos]
        else:
            self._buf = bytearray(view[pos:])
        return out


# --- errors --------------------------------------------------------------

_remote_string = Optional(String(MESSAGE_STRING_MAX, "remote_nonnull_string"), "remote_string")

remote_error = Struct("remote_error", [
    ("code", INT),
    ("domain", INT),
    ("message", _remote_string),
    ("level", INT),
    ("dom", Optional(remote_nonnull_domain, "remote_domain")),
    ("str1", _remote_string),
    ("str2", _remote_string),
    ("str3", _remote_string),
    ("int1", INT),
    ("int2", INT),
    ("net", Optional(remote_nonnull_network, "remote_network")),
])
"""``remote_error`` / ``virNetMessageError``: the payload of a REPLY with status ERROR."""

stream_hole = Struct("virNetStreamHole", [("length", HYPER), ("flags", UINT)])
"""Payload of a STREAM_HOLE message."""


def error_from_virt(err: VirtError) -> dict[str, Any]:
    """The ``remote_error`` value for a virtkit error."""
    return {
        "code": int(err.code), "domain": int(err.domain), "message": err.message,
        "level": int(err.level), "dom": None, "str1": err.str1, "str2": err.str2,
        "str3": err.str3, "int1": err.int1, "int2": err.int2, "net": None,
    }


def virt_from_error(value: dict[str, Any]) -> VirtError:
    """The virtkit error for a decoded ``remote_error`` (a missing message
    becomes libvirt's generic "unknown error")."""
    code = value["code"]
    message = value["message"]
    if message is None:
        message = "unknown error"
    return error_class(code)(
        message, code=code, domain=value["domain"], level=value["level"],
        str1=value["str1"], str2=value["str2"], str3=value["str3"],
        int1=value["int1"], int2=value["int2"],
    )


def rpc_error(message: str) -> VirtError:
    """A ``VIR_ERR_RPC`` error from the RPC layer (unknown procedure, bad payload)."""
    return VirtError(message, code=ErrorCode.RPC, domain=ErrorDomain.RPC,
                     level=ErrorLevel.ERROR)
