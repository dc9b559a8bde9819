"""Debian's virsh and libvirt-python drive virtkitd's storage driver (qemu:///system).

Pools are real directories under the daemon's root; volume data crosses the unix socket
in RPC streams (vol-upload / vol-download) and is compared byte for byte. The daemon is
restarted once: an active pool and its volumes come back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = [pytest.mark.interop, pytest.mark.slow]

VIRSH = shutil.which("virsh") or "virsh"
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_virtkitd(tmp_path / "root")
    try:
        yield d
    finally:
        d.stop()


def virsh(d: Daemon, line: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([VIRSH, "-c", d.uri(driver="qemu", path="/system"), line],
                         capture_output=True, text=True, timeout=120)
    if ok:
        assert res.returncode == 0, f"{line}: {res.stdout}{res.stderr}"
    return res


def test_virsh_pool_and_volume_life_cycle(daemon: Daemon, tmp_path: Path) -> None:
    p1, p2 = tmp_path / "p1", tmp_path / "p2"
    virsh(daemon, f"pool-define-as p1 dir --target {p1}; pool-build p1; pool-start p1; "
                  f"pool-create-as p2 dir --target {p2} --build; pool-autostart p1")
    assert p1.is_dir() and p2.is_dir()

    data = os.urandom(5 * 1024 * 1024 + 123)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    out = tmp_path / "out.bin"
    virsh(daemon, f"vol-create-as p1 a.raw 8M; vol-upload a.raw {src} --pool p1; "
                  f"vol-download a.raw {out} --pool p1 --length {len(data)}")
    assert out.read_bytes() == data
    # offset and length on both sides; virsh sends the whole file, libvirt writes what
    # fits in the length and then reports the stream full (so does virtkitd)
    res = virsh(daemon, f"vol-upload a.raw {src} --pool p1 --offset 4096 --length 1000",
                ok=False)
    assert "cannot write to stream: No space left on device" in res.stderr, res.stderr
    virsh(daemon, f"vol-download a.raw {out} --pool p1 --offset 4096 --length 1000")
    assert out.read_bytes() == data[:1000]
    data = data[:4096] + data[:1000] + data[5096:]

    # clone across pools and formats; the clone keeps the data
    virsh(daemon, "vol-clone a.raw a-copy.raw --pool p1")
    res = virsh(daemon, "vol-dumpxml a.raw --pool p1")
    clone_xml = tmp_path / "clone.xml"
    clone_xml.write_text(res.stdout.replace("<name>a.raw</name>", "<name>b.qcow2</name>")
                         .replace("type='raw'", "type='qcow2'"))
    virsh(daemon, f"vol-create-from p2 {clone_xml} a.raw --inputpool p1")
    info = virsh(daemon, "vol-dumpxml b.qcow2 --pool p2").stdout
    assert "<format type='qcow2'/>" in info
    assert (p2 / "b.qcow2").read_bytes()[:4] == b"QFI\xfb"
    conv = subprocess.run(["qemu-img", "convert", "-O", "raw", str(p2 / "b.qcow2"),
                           str(tmp_path / "b.raw")], capture_output=True)
    assert conv.returncode == 0
    assert (tmp_path / "b.raw").read_bytes()[:len(data)] == data

    # resize: grow; shrink only with --shrink
    virsh(daemon, "vol-resize a.raw 16M --pool p1")
    res = virsh(daemon, "vol-resize a.raw 12M --pool p1", ok=False)
    assert res.returncode == 1 and "unless shrink flag explicitly specified" in res.stderr
    res = virsh(daemon, "vol-resize a.raw 4M --pool p1 --shrink", ok=False)
    assert "can't shrink capacity below existing allocation" in res.stderr, res.stderr
    virsh(daemon, "vol-resize a.raw 12M --pool p1 --shrink")
    assert (p1 / "a.raw").stat().st_size == 12 * 1024 * 1024

    # wipe zeroes the data
    virsh(daemon, "vol-wipe a-copy.raw --pool p1")
    wiped = (p1 / "a-copy.raw").read_bytes()
    assert len(wiped) == 8 * 1024 * 1024 and not any(wiped)

    # refresh finds files made and removed behind the daemon's back
    (p1 / "outside.img").write_bytes(b"\0" * 65536)
    (p1 / "a-copy.raw").unlink()
    virsh(daemon, "pool-refresh p1")
    names = vol_names(daemon, "p1")
    assert sorted(names) == ["a.raw", "outside.img"]

    # bad input: a clear error, nothing left behind
    for bad, why in (("../evil", "volume name '../evil' cannot contain '/'"),
                     ("x/y", "volume name 'x/y' cannot contain '/'")):
        res = virsh(daemon, f"vol-create-as p1 {bad} 1M", ok=False)
        assert res.returncode == 1 and why in res.stderr, res.stderr
    res = virsh(daemon, "vol-create-as p1 huge 1P --allocation 1P", ok=False)
    assert res.returncode == 1 and "Not enough space" in res.stderr, res.stderr
    assert sorted(os.listdir(p1)) == ["a.raw", "outside.img"]

    # --json listings
    pools = json.loads(virsh_json(daemon, "pool-list --all --json"))
    assert {p["name"] for p in pools} == {"p1", "p2"}

    # a restart: the active pools and their volumes come back
    daemon.stop()
    d2 = start_virtkitd(daemon.root)
    try:
        assert "running" in virsh(d2, "pool-info p1").stdout
        assert virsh(d2, "pool-autostart p1 --disable").returncode == 0
        names = vol_names(d2, "p1")
        assert sorted(names) == ["a.raw", "outside.img"]
        virsh(d2, "vol-delete a.raw --pool p1; vol-delete outside.img --pool p1; "
                  "pool-destroy p1; pool-delete p1; pool-undefine p1; pool-destroy p2")
        assert not p1.exists()
        assert virsh(d2, "pool-list --all --name").stdout.split() == []
    finally:
        d2.stop()


def vol_names(d: Daemon, pool: str) -> list[str]:
    lines = virsh(d, f"vol-list {pool}").stdout.splitlines()[2:]
    return sorted(line.split()[0] for line in lines if line.strip())


def virsh_json(d: Daemon, line: str) -> str:
    """virtkit's own CLI (virsh has no --json) against the same daemon."""
    import sys

    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-c",
                          d.uri(driver="qemu", path="/system"), line],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_libvirt_python_streams(daemon: Daemon, tmp_path: Path) -> None:
    """libvirt-python's sendAll/recvAll through virtkitd, 20 MiB each way."""
    script = textwrap.dedent(f"""
        import os, libvirt
        c = libvirt.open({daemon.uri(driver="qemu", path="/system")!r})
        p = c.storagePoolCreateXML("<pool type='dir'><name>lp</name><target><path>"
                                   "{tmp_path / 'lp'}</path></target></pool>",
                                   libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
        v = p.createXML("<volume><name>big</name><capacity>20971520</capacity></volume>")
        data = os.urandom(20 * 1024 * 1024)
        pos = [0]
        def feed(st, n, _):
            chunk = data[pos[0]:pos[0] + n]
            pos[0] += len(chunk)
            return chunk
        st = c.newStream(0)
        v.upload(st, 0, len(data), 0)
        st.sendAll(feed, None)
        st.finish()
        got = []
        st = c.newStream(0)
        v.download(st, 0, 0, 0)
        st.recvAll(lambda s, buf, _: got.append(buf) or len(buf), None)
        st.finish()
        assert b"".join(got) == data, "download differs"
        info = v.info()
        assert info[1] == len(data), info
        try:
            v.resize(1024, 0)
        except libvirt.libvirtError as e:
            assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e.get_error_code()
        else:
            raise AssertionError("shrink without the flag succeeded")
        v.delete(0)
        p.destroy()
        print("OK")
    """)
    res = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "OK", res.stderr


def test_daemon_killed_mid_upload(daemon: Daemon, tmp_path: Path) -> None:
    """SIGKILL while virsh streams 256 MiB in: virsh fails, and
    the restarted daemon has the pool running, the volume listed and usable, and no
    state file half-written."""
    pool_dir = tmp_path / "kp"
    virsh(daemon, f"pool-create-as kp dir --target {pool_dir} --build; "
                  "vol-create-as kp big.raw 256M --allocation 0")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(256):
            f.write(block)
    uri = daemon.uri(driver="qemu", path="/system")
    upload = subprocess.Popen([VIRSH, "-c", uri, f"vol-upload big.raw {src} --pool kp"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while (pool_dir / "big.raw").stat().st_blocks * 512 < 16 * 1024 * 1024:
            assert upload.poll() is None, upload.communicate()
            assert time.monotonic() < deadline, "the upload did not start"
            time.sleep(0.01)
        daemon.kill()
        _out, err = upload.communicate(timeout=30)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.wait()
    # virsh reports the lost connection, or dies of SIGPIPE writing to it
    assert upload.returncode != 0, err
    leftovers = [p for p in daemon.root.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    d2 = start_virtkitd(daemon.root)
    try:
        assert "running" in virsh(d2, "pool-info kp").stdout
        assert vol_names(d2, "kp") == ["big.raw"]
        out = tmp_path / "back.bin"
        virsh(d2, f"vol-upload big.raw {src} --pool kp; vol-download big.raw {out} --pool kp")
        assert out.read_bytes() == src.read_bytes()
        virsh(d2, "vol-delete big.raw --pool kp; pool-destroy kp")
    finally:
        d2.stop()


def test_vol_info_physical(daemon: Daemon, tmp_path: Path) -> None:
    """virStorageVolGetInfoFlags(VIR_STORAGE_VOL_GET_PHYSICAL) through virtkitd: the file's
    size where the plain call gives its allocated blocks (virsh and virtkit alike)."""
    pool = tmp_path / "pool"
    virsh(daemon, f"pool-create-as p dir --target {pool} --build; "
                  "vol-create-as p a.qcow2 1G --format qcow2")
    st = os.stat(pool / "a.qcow2")
    line = "vol-info a.qcow2 --pool p --physical --bytes; vol-info a.qcow2 --pool p --bytes"
    theirs = virsh(daemon, line).stdout
    ours = subprocess.run([shutil.which("virtkit") or str(Path(sys.executable).with_name(
        "virtkit")), "-c", daemon.uri(driver="qemu", path="/system"), line],
        capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs
    assert f"Physical:       {st.st_size} bytes" in theirs
    assert f"Allocation:     {st.st_blocks * 512} bytes" in theirs
