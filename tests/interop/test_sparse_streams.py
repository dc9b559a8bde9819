"""Sparse volume streams (vol-upload / vol-download --sparse) through virtkitd.

Holes travel as STREAM_HOLE messages (a length) instead of zeros. Debian's virsh and
virtkit's CLI, each as client of virtkitd, move a file with large holes both ways: the
data comes back byte for byte and the copy stays sparse (its allocation is checked with
st_blocks). A client that did not ask for a sparse stream gets the holes as zeros.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.streams import Hole
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = [pytest.mark.interop, pytest.mark.slow]

VIRSH = shutil.which("virsh") or "virsh"
MiB = 1024 * 1024
SIZE = 64 * MiB


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_virtkitd(tmp_path / "root")
    try:
        yield d
    finally:
        d.stop()


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{argv}: {res.stdout}{res.stderr}"
    return res


def virsh(d: Daemon, line: str) -> subprocess.CompletedProcess[str]:
    return _run([VIRSH, "-c", d.uri(driver="qemu", path="/system"), line])


def vk(d: Daemon, line: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "virtkit.cli.main", "-c",
                 d.uri(driver="qemu", path="/system"), line])


def sparse_file(path: Path) -> bytes:
    """64 MiB with data at 0, 20 MiB and the last 4 KiB; holes between."""
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for off, size in ((0, 8192), (20 * MiB, 1 * MiB), (SIZE - 4096, 4096)):
            f.seek(off)
            f.write(os.urandom(size))
    return path.read_bytes()


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def make_pool(d: Daemon, tmp_path: Path) -> Path:
    pool = tmp_path / "pool"
    virsh(d, f"pool-create-as p dir --target {pool} --build; vol-create-as p v.raw {SIZE}")
    return pool / "v.raw"


@pytest.mark.parametrize("client", ["virsh", "virtkit"])
def test_sparse_upload_and_download(daemon: Daemon, tmp_path: Path, client: str) -> None:
    vol = make_pool(daemon, tmp_path)
    # make the volume fully allocated first: a sparse upload must zero what the holes cover
    with open(vol, "r+b") as f:
        f.write(b"\xff" * SIZE)
    src = tmp_path / "src.raw"
    data = sparse_file(src)
    assert allocated(src) < 4 * MiB
    run = virsh if client == "virsh" else vk
    run(daemon, f"vol-upload v.raw {src} --pool p --sparse")
    assert vol.read_bytes() == data
    out = tmp_path / "out.raw"
    run(daemon, f"vol-download v.raw {out} --pool p --sparse")
    assert out.read_bytes() == data
    assert allocated(out) < 4 * MiB, "the downloaded copy lost its holes"
    # without --sparse the same bytes arrive, zeros written out
    full = tmp_path / "full.raw"
    run(daemon, f"vol-download v.raw {full} --pool p")
    assert full.read_bytes() == data
    assert allocated(full) >= SIZE - MiB


def test_client_api_sees_holes(daemon: Daemon, tmp_path: Path) -> None:
    vol = make_pool(daemon, tmp_path)
    data = sparse_file(vol)
    with virtkit.open(daemon.uri(driver="qemu", path="/system")) as conn:
        v = conn.lookup_storage_pool("p").lookup_volume("v.raw")
        items: list[bytes | Hole] = []
        stream = v.download(0, 0, 1)
        while True:
            item = stream.recv_sparse()  # type: ignore[attr-defined]
            if isinstance(item, bytes) and not item:
                break
            items.append(item)
        stream.finish()
        holes = [int(i) for i in items if isinstance(i, Hole)]
        got = b"".join(bytes(i) if isinstance(i, Hole) else i for i in items)
        assert got == data
        assert sum(holes) >= SIZE - 2 * MiB and len(holes) == 2
        # recv() on a sparse stream gives the holes as zeros (libvirt's virStreamRecv)
        stream = v.download(0, 0, 1)
        chunks = []
        while chunk := stream.recv():
            chunks.append(chunk)
        stream.finish()
        assert b"".join(chunks) == data
        # a hole on a stream opened without the flag is refused on the client side
        stream = v.upload(0, 0, 0)
        with pytest.raises(virtkit.VirtError, match="Skipping is not supported"):
            stream.send_hole(4096)  # type: ignore[attr-defined]
        stream.abort()


def test_local_volume_stream_sparse(tmp_path: Path) -> None:
    """The driver's own stream (embedded, no daemon): holes out, holes in."""
    root = tmp_path / "root"
    pool = tmp_path / "pool"
    with virtkit.open(f"qemu:///embed?root={root}") as conn:
        p = conn.create_storage_pool(
            f"<pool type='dir'><name>p</name><target><path>{pool}</path></target></pool>", 1)
        v = p.create_volume(
            f"<volume><name>v.raw</name><capacity>{SIZE}</capacity>"
            "<target><format type='raw'/></target></volume>", 0)
        data = sparse_file(pool / "v.raw")
        stream = v.download(0, 0, 1)
        kinds = []
        while True:
            item = stream.recv_sparse()  # type: ignore[attr-defined]
            if isinstance(item, bytes) and not item:
                break
            kinds.append("hole" if isinstance(item, Hole) else "data")
        stream.finish()
        assert kinds.count("hole") == 2
        # upload: data, a hole over old data, data; the hole reads back as zeros
        stream = v.upload(0, 0, 1)
        stream.send(b"a" * 4096)
        stream.send_hole(SIZE - 8192)  # type: ignore[attr-defined]
        stream.send(b"b" * 4096)
        stream.finish()
        got = (pool / "v.raw").read_bytes()
        assert got == b"a" * 4096 + bytes(SIZE - 8192) + b"b" * 4096
        assert data != got
        # a hole past the stream's length is refused as libvirt refuses overflowing data
        stream = v.upload(0, 8192, 1)
        with pytest.raises(virtkit.VirtError, match="No space left on device"):
            stream.send_hole(16384)  # type: ignore[attr-defined]
        stream.abort()
        p.destroy()


def test_daemon_refuses_unasked_and_malformed_holes(daemon: Daemon, tmp_path: Path) -> None:
    """A hole on a stream opened without the flag, or a truncated hole packet, fails that
    stream with libvirt's errors; the connection and the daemon carry on."""
    from virtkit.rpc.message import MessageStatus, MessageType

    vol = make_pool(daemon, tmp_path)
    with virtkit.open(daemon.uri(driver="qemu", path="/system")) as conn:
        v = conn.lookup_storage_pool("p").lookup_volume("v.raw")
        stream = v.upload(0, 0, 0)
        raw = stream._stream  # type: ignore[attr-defined]  # the RPC stream under the wrapper
        raw.sparse = True  # lie: the daemon must still refuse
        raw.send_hole(4096)
        with pytest.raises(virtkit.VirtError, match="Unexpected stream hole"):
            raw.finish(timeout=30)
        stream = v.upload(0, 0, 1)
        raw = stream._stream  # type: ignore[attr-defined]
        raw._client.send_stream(raw.prog, raw.vers, raw.proc, raw.serial,
                                int(MessageStatus.CONTINUE), b"\x00\x01",
                                int(MessageType.STREAM_HOLE))
        with pytest.raises(virtkit.VirtError, match="Malformed stream hole packet"):
            raw.finish(timeout=30)
        assert v.info().capacity == SIZE  # the connection still works
    assert vol.stat().st_size == SIZE
