"""Data streams: libvirt's ``virStream`` (screenshots, console, volume upload/download).

A stream carries bytes one way or both between a driver and the caller.
Drivers return one from stream APIs (``domain_screenshot`` ...); over RPC
the daemon pumps it as STREAM messages with flow control, and the remote
driver hands the caller an object with the same methods. Reading returns
``b""`` at the end; ``finish()`` completes a transfer, ``abort()`` drops it.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from virtkit.errors import make_error
from virtkit.errtables import ErrorCode, ErrorDomain

__all__ = [
    "PACKET_MAX",
    "BytesStream",
    "DataStream",
    "FileStream",
    "Hole",
    "SparseStream",
    "recv_all",
    "send_all",
]

PACKET_MAX = 262120
"""libvirt's stream packet: VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX bytes of data."""


class DataStream(Protocol):
    """What every stream offers (local or remote)."""

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        """Up to ``nbytes``; ``b""`` at the end of the stream."""

    def send(self, data: bytes) -> None:
        """Write ``data`` (upload direction)."""

    def finish(self) -> None:
        """Complete the transfer (after the last send, or after reading ``b""``)."""

    def abort(self) -> None:
        """Stop the transfer; the other end sees an error."""


class Hole(int):
    """What :meth:`SparseStream.recv_sparse` returns for a hole: its length in bytes."""

    __slots__ = ()


class SparseStream(DataStream, Protocol):
    """A stream opened with a SPARSE_STREAM flag: holes travel as lengths, not zeros."""

    sparse: bool

    def recv_sparse(self, nbytes: int = PACKET_MAX) -> bytes | Hole:
        """Up to ``nbytes`` of data, or the :class:`Hole` that comes next; ``b""`` at the end.

        (``recv`` on the same stream gives a hole's zeros instead.)"""

    def send_hole(self, length: int) -> None:
        """Skip ``length`` bytes that read as zeros (upload direction)."""


def _closed() -> Exception:
    return make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.STREAMS, "stream is closed")


class FileStream:
    """A stream over an open binary file (what libvirt's fdstream does for drivers)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._file: BinaryIO | None = fileobj

    def _f(self) -> BinaryIO:
        if self._file is None:
            raise _closed()
        return self._file

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        return self._f().read(nbytes)

    def send(self, data: bytes) -> None:
        self._f().write(data)

    def finish(self) -> None:
        f = self._f()
        self._file = None
        f.close()

    def abort(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()


class BytesStream(FileStream):
    """A read stream over bytes already in memory."""

    def __init__(self, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data))


def recv_all(stream: DataStream) -> bytes:
    """Read ``stream`` to its end, finish it and return everything."""
    chunks = []
    while True:
        chunk = stream.recv(PACKET_MAX)
        if not chunk:
            break
        chunks.append(chunk)
    stream.finish()
    return b"".join(chunks)


def send_all(stream: DataStream, data: bytes) -> None:
    """Write ``data`` in libvirt-sized packets and finish the stream."""
    view = memoryview(data)
    for off in range(0, len(view), PACKET_MAX):
        stream.send(bytes(view[off:off + PACKET_MAX]))
    stream.finish()
