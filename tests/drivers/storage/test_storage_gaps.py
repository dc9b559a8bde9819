"""Pool capabilities, source discovery, wiping, volumes in use by streams, and the
header probe that keeps refresh of big dir pools fast (real files, real qemu-img)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from storage_helpers import dir_pool_xml, vol_xml

from virtkit.constants import StorageVolWipeAlgorithm as WA
from virtkit.drivers.storage import volumes
from virtkit.drivers.storage.caps import POOL_TYPES
from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import StoragePoolIdent

MiB = 1024 * 1024


def _pool(drv: HostStorageDriver, tmp_path: Path, name: str = "p") -> StoragePoolIdent:
    (tmp_path / name).mkdir(exist_ok=True)
    return drv.storage_pool_create_xml(dir_pool_xml(name, tmp_path / name))


# ------------------------------------------------------------------ capabilities


def test_pool_capabilities_layout(drv: HostStorageDriver) -> None:
    xml = drv.connect_get_storage_pool_capabilities()
    root = ET.fromstring(xml)
    assert root.tag == "storagepoolCapabilities"
    pools = root.findall("pool")
    assert [p.get("type") for p in pools] == list(POOL_TYPES)
    supported = {p.get("type") for p in pools if p.get("supported") == "yes"}
    assert supported == {"dir", "fs", "netfs", "logical"}
    by = {p.get("type"): p for p in pools}
    assert [v.text for v in by["logical"].findall("poolOptions/enum/value")] == [
        "unknown", "lvm2"]
    assert by["logical"].find("poolOptions/defaultFormat").get("type") == "lvm2"
    assert by["logical"].find("volOptions") is None
    vols = [v.text for v in by["dir"].findall("volOptions/enum/value")]
    assert vols[:3] == ["none", "raw", "dir"] and vols[-3:] == ["qcow2", "qed", "vmdk"]
    assert by["dir"].find("poolOptions") is None
    assert [v.text for v in by["netfs"].findall("poolOptions/enum/value")] == [
        "auto", "nfs", "glusterfs", "cifs"]
    assert "hfs+" in [v.text for v in by["fs"].findall("poolOptions/enum/value")]
    assert xml.startswith("<storagepoolCapabilities>\n  <pool type='dir' supported='yes'>\n"
                          "    <volOptions>\n      <defaultFormat type='raw'/>\n")
    assert "  <pool type='iscsi' supported='no'>\n  </pool>\n" in xml
    assert xml.endswith("</storagepoolCapabilities>\n")
    with pytest.raises(VirtError) as ei:
        drv.connect_get_storage_pool_capabilities(1)
    assert ei.value.code == ErrorCode.INVALID_ARG


def test_pool_capabilities_match_libvirt_test_data(drv: HostStorageDriver) -> None:
    """data/poolcaps-virtkit.xml is libvirt 9.0's tests/storagepoolcapsschemadata/
    poolcaps-full.xml with every type but dir, fs, netfs and logical turned to
    supported='no' (checked against libvirt's file when it was written)."""
    want = (Path(__file__).parent / "data" / "poolcaps-virtkit.xml").read_text()
    assert "<pool type='logical' supported='yes'>" in want
    assert "<pool type='rbd' supported='no'>" in want
    assert drv.connect_get_storage_pool_capabilities() == want


# ------------------------------------------------------------------ source discovery


@pytest.mark.parametrize("kind", ["dir", "fs"])
def test_find_sources_unsupported(drv: HostStorageDriver, kind: str) -> None:
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources(kind, None, 0)
    assert ei.value.code == ErrorCode.NO_SUPPORT
    assert f"pool type '{kind}' does not support source discovery" in str(ei.value)


def test_find_sources_unknown_type(drv: HostStorageDriver) -> None:
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("bogus", None, 0)
    assert ei.value.code == ErrorCode.INTERNAL_ERROR
    assert "unknown storage pool type bogus" in str(ei.value)


def test_find_netfs_sources_errors(drv: HostStorageDriver, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("netfs", None, 0)
    assert ei.value.code == ErrorCode.INVALID_ARG
    assert "hostname must be specified for netfs sources" in str(ei.value)
    two = "<source><host name='a'/><host name='b'/></source>"
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("netfs", two, 0)
    assert ei.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "Expected exactly 1 host for the storage pool" in str(ei.value)
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("netfs", "<source><host name='a'/></source>", 1)
    assert ei.value.code == ErrorCode.INVALID_ARG
    # no showmount on the PATH (nothing else there either)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("netfs", "<source><host name='nfs1'/></source>")
    assert ei.value.code == ErrorCode.OPERATION_FAILED
    assert "no storage pools were found on host 'nfs1'" in str(ei.value)


def _fake_showmount(tmp_path: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``showmount`` on the PATH (there is no NFS server here to ask)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "showmount"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return bindir / "args"


def test_find_netfs_sources_parses_showmount(drv: HostStorageDriver, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    args = _fake_showmount(tmp_path, f'echo "$@" > {tmp_path}/bin/args\n'
                           "printf '/srv/a b  *\\n/export/vm  10.0.0.0/8,host2\\n'\n",
                           monkeypatch)
    xml = drv.connect_find_storage_pool_sources(
        "netfs", "<source><host name='nfs1'/></source>")
    assert args.read_text().split() == ["--no-headers", "--exports", "nfs1"]
    assert xml == ("<sources>\n"
                   "  <source>\n    <host name='nfs1'/>\n    <dir path='/srv/a b'/>\n"
                   "    <format type='nfs'/>\n  </source>\n"
                   "  <source>\n    <host name='nfs1'/>\n    <dir path='/export/vm'/>\n"
                   "    <format type='nfs'/>\n  </source>\n"
                   "</sources>\n")


def test_find_netfs_sources_showmount_fails(drv: HostStorageDriver, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_showmount(tmp_path, "echo 'clnt_create: RPC: timed out' >&2; exit 1\n",
                    monkeypatch)
    with pytest.raises(VirtError) as ei:
        drv.connect_find_storage_pool_sources("netfs", "<source><host name='h'/></source>")
    assert ei.value.code == ErrorCode.OPERATION_FAILED
    assert "no storage pools were found on host 'h'" in str(ei.value)


# ------------------------------------------------------------------ wiping


def _file(drv: HostStorageDriver, p: StoragePoolIdent, tmp_path: Path, name: str,
          data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / "p" / name
    path.write_bytes(data)
    drv.storage_pool_refresh(p)
    return drv.storage_vol_lookup_by_name(p, name), path


def test_wipe_zero_raw_and_sparse(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    vol, path = _file(drv, p, tmp_path, "full.img", b"\xaa" * (MiB + 123))
    drv.storage_vol_wipe(vol)
    assert path.read_bytes() == bytes(MiB + 123)
    sparse = drv.storage_vol_create_xml(p, vol_xml("sparse.img", 64 * MiB, allocation=0))
    spath = tmp_path / "p" / "sparse.img"
    with open(spath, "r+b") as f:
        f.seek(32 * MiB)
        f.write(b"\x55" * 4096)
    assert os.stat(spath).st_blocks > 0
    drv.storage_vol_wipe_pattern(sparse, WA.ZERO)
    st = os.stat(spath)
    assert st.st_size == 64 * MiB and st.st_blocks == 0  # truncated, not written
    with open(spath, "rb") as f:
        f.seek(32 * MiB)
        assert f.read(4096) == bytes(4096)
    assert drv.storage_vol_get_info(sparse).allocation == 0


def test_wipe_zero_qcow2_becomes_raw_zeros(drv: HostStorageDriver, tmp_path: Path) -> None:
    """As libvirt 9.0 (storageBackendVolWipeLocalFile): the whole file, header included,
    is zeroed; the volume then probes as raw of the file's length."""
    p = _pool(drv, tmp_path)
    vol = drv.storage_vol_create_xml(p, vol_xml("q.qcow2", 16 * MiB, fmt="qcow2"))
    path = tmp_path / "p" / "q.qcow2"
    size = path.stat().st_size
    drv.storage_vol_wipe(vol)
    assert path.read_bytes() == bytes(size)
    assert "<format type='raw'/>" in drv.storage_vol_get_xml_desc(vol)
    assert drv.storage_vol_get_info(vol).capacity == size


def test_wipe_patterns_run_scrub(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    data = b"\xaa" * (256 * 1024)
    vol, path = _file(drv, p, tmp_path, "s.img", data)
    drv.storage_vol_wipe_pattern(vol, WA.RANDOM)
    after = path.read_bytes()
    assert len(after) >= len(data) and after.count(0xAA) < len(data) // 10
    assert after.startswith(b"\x01\x02\x03SCRUB")  # scrub's signature
    drv.storage_vol_wipe_pattern(vol, WA.NNSA)  # random, random, zeros (+ signature)
    assert set(path.read_bytes()[64:]) == {0}


def test_wipe_errors(drv: HostStorageDriver, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    p = _pool(drv, tmp_path)
    vol, path = _file(drv, p, tmp_path, "e.img", b"\x11" * 4096)
    with pytest.raises(VirtError) as ei:
        drv.storage_vol_wipe_pattern(vol, WA.TRIM)
    assert ei.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert "'trim' algorithm not supported" in str(ei.value)
    with pytest.raises(VirtError) as ei:
        drv.storage_vol_wipe_pattern(vol, 10)
    assert ei.value.code == ErrorCode.INVALID_ARG
    assert "wiping algorithm 10 not supported" in str(ei.value)
    (tmp_path / "p" / "sub").mkdir()
    drv.storage_pool_refresh(p)
    with pytest.raises(VirtError, match="Failed to open storage volume with path") as ei:
        drv.storage_vol_wipe(drv.storage_vol_lookup_by_name(p, "sub"))
    assert ei.value.code == ErrorCode.SYSTEM_ERROR
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(VirtError, match="Cannot find 'scrub' in path"):
        drv.storage_vol_wipe_pattern(vol, WA.DOD)
    assert path.read_bytes() == b"\x11" * 4096


# ------------------------------------------------------------------ in use by streams


def test_open_upload_marks_volume_in_use(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    vol = drv.storage_vol_create_xml(p, vol_xml("u.img", MiB, allocation=0))
    st = drv.storage_vol_upload(vol, 0, 0)
    st.send(b"abc")
    for call in (lambda: drv.storage_vol_delete(vol),
                 lambda: drv.storage_vol_resize(vol, 2 * MiB),
                 lambda: drv.storage_vol_wipe(vol),
                 lambda: drv.storage_vol_upload(vol, 0, 0)):
        with pytest.raises(VirtError) as ei:
            call()
        assert ei.value.code == ErrorCode.OPERATION_INVALID
        assert "volume 'u.img' is still in use." in str(ei.value)
    with pytest.raises(VirtError) as ei:
        drv.storage_pool_destroy(p)
    assert ei.value.code == ErrorCode.INTERNAL_ERROR
    assert "pool 'p' has asynchronous jobs running." in str(ei.value)
    st.finish()
    drv.storage_vol_resize(vol, 2 * MiB)
    # an aborted upload releases the volume too; so does a finished download
    drv.storage_vol_upload(vol, 0, 0).abort()
    down = drv.storage_vol_download(vol, 0, 3)
    with pytest.raises(VirtError, match=r"volume 'u\.img' is still in use\."):
        drv.storage_vol_delete(vol)
    assert down.recv(10) == b"abc"
    down.finish()
    drv.storage_vol_delete(vol)
    assert not (tmp_path / "p" / "u.img").exists()


# ------------------------------------------------------------------ header probe


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_header_probe_matches_qemu_img(tmp_path: Path) -> None:
    d = tmp_path
    (d / "base.raw").write_bytes(b"\x00" * 1000)
    _qemu_img("create", "-q", "-f", "qcow2", str(d / "a.qcow2"), "5G")
    _qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", str(d / "v2.qcow2"), "3M")
    _qemu_img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", str(d / "rel.qcow2"))
    _qemu_img("create", "-q", "-f", "qcow2", "-b", str(d / "a.qcow2"), "-F", "qcow2",
              str(d / "abs.qcow2"))
    _qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F",
              "raw", str(d / "v2b.qcow2"))
    keys = ("format", "virtual-size", "backing-filename", "backing-filename-format")
    for name in ("base.raw", "a.qcow2", "v2.qcow2", "rel.qcow2", "abs.qcow2", "v2b.qcow2"):
        path = str(d / name)
        mine = volumes.read_header(path, os.path.getsize(path))
        assert mine is not None, name
        theirs = volumes.image_info(path)
        if theirs["format"] == "raw":
            theirs["virtual-size"] = os.path.getsize(path)
        assert {k: mine.get(k) for k in keys} == {k: theirs.get(k) for k in keys}, name
        full = theirs.get("full-backing-filename")
        assert mine.get("full-backing-filename") == full, name
    _qemu_img("create", "-q", "-f", "vmdk", str(d / "x.vmdk"), "1M")
    assert volumes.read_header(str(d / "x.vmdk"), 0) is None  # left to qemu-img
    assert volumes.probe("x.vmdk", str(d / "x.vmdk")).format == "vmdk"  # type: ignore[union-attr]


def test_refresh_reads_headers_without_qemu_img(drv: HostStorageDriver, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    p = _pool(drv, tmp_path)
    drv.storage_vol_create_xml(p, vol_xml("b.img", MiB))
    drv.storage_vol_create_xml(p, vol_xml("o.qcow2", 2 * MiB, fmt="qcow2",
                                          backing=str(tmp_path / "p" / "b.img"),
                                          backing_fmt="raw"))
    monkeypatch.setattr(volumes, "QEMU_IMG", str(tmp_path / "no-qemu-img"))
    drv.storage_pool_refresh(p)
    o = drv.storage_vol_lookup_by_name(p, "o.qcow2")
    assert drv.storage_vol_get_info(o).capacity == 2 * MiB
    xml = drv.storage_vol_get_xml_desc(o)
    assert "<format type='qcow2'/>" in xml
    assert f"<path>{tmp_path}/p/b.img</path>" in xml and "<format type='raw'/>" in xml


def test_refresh_of_many_volumes_reads_headers_itself(
        drv: HostStorageDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw and qcow2 volumes are probed in-process (no qemu-img per file), which is what
    makes a 10,000-volume refresh fast (bench/run.py --storage measures it)."""
    pool_dir = tmp_path / "p"
    pool_dir.mkdir()
    for i in range(1990):
        (pool_dir / f"v{i:05d}.img").write_bytes(b"x" * (i % 5))
    for i in range(10):
        _qemu_img("create", "-q", "-f", "qcow2", str(pool_dir / f"q{i}.qcow2"), "1G")
    monkeypatch.setattr(volumes, "QEMU_IMG", str(tmp_path / "no-qemu-img"))
    p = _pool(drv, tmp_path)
    drv.storage_pool_refresh(p)
    assert drv.storage_pool_num_of_volumes(p) == 2000
    assert drv.storage_vol_get_info(drv.storage_vol_lookup_by_name(p, "q3.qcow2")).capacity \
        == 1 << 30
    assert drv.storage_vol_get_info(drv.storage_vol_lookup_by_name(p, "v00004.img")).capacity \
        == 4
