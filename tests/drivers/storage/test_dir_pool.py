"""dir pools on real directories: life cycle, volumes with qemu-img, streams, refresh."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from storage_helpers import dir_pool_xml, vol_xml

from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.drivers.storage.node import StorageNode
from virtkit.drivers.storage.paths import StoragePaths
from virtkit.errors import ErrorCode, VirtError
from virtkit.streams import recv_all, send_all
from virtkit.types import StoragePoolIdent

MiB = 1024 * 1024


def _img_info(path: str) -> dict[str, object]:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                         check=True, capture_output=True, text=True).stdout
    data: dict[str, object] = json.loads(out)
    return data


def _pool(drv: HostStorageDriver, tmp_path: Path, name: str = "p") -> StoragePoolIdent:
    p = drv.storage_pool_define_xml(dir_pool_xml(name, tmp_path / name))
    drv.storage_pool_build(p)
    drv.storage_pool_create(p)
    return p


def test_life_cycle_events_and_persistence(drv: HostStorageDriver, paths: StoragePaths,
                                           tmp_path: Path) -> None:
    events: list[tuple[str, object]] = []
    drv.connect_storage_pool_event_register_any(
        None, 0, lambda ident, _id, payload: events.append((ident.name, payload[0])))
    drv.connect_storage_pool_event_register_any(
        None, 1, lambda ident, _id, payload: events.append((ident.name, "refresh")))
    target = tmp_path / "pool"
    p = drv.storage_pool_define_xml(dir_pool_xml("p", target, mode="0750"))
    assert os.path.exists(os.path.join(paths.config_dir, "p.xml"))
    assert not drv.storage_pool_is_active(p) and drv.storage_pool_is_persistent(p)
    with pytest.raises(VirtError) as exc:
        drv.storage_pool_create(p)  # the directory does not exist yet
    assert exc.value.code == ErrorCode.SYSTEM_ERROR
    assert f"cannot open directory '{target}'" in str(exc.value)
    assert not drv.storage_pool_is_active(p)
    drv.storage_pool_build(p)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750
    drv.storage_pool_create(p)
    assert os.path.exists(os.path.join(paths.status_dir, "p.xml"))
    info = drv.storage_pool_get_info(p)
    sv = os.statvfs(target)
    assert info.state == 2 and info.capacity == sv.f_blocks * sv.f_frsize
    assert 0 < info.available <= info.capacity
    xml = drv.storage_pool_get_xml_desc(p)
    assert f"<capacity unit='bytes'>{info.capacity}</capacity>" in xml
    drv.storage_pool_refresh(p)
    drv.storage_pool_set_autostart(p, True)
    assert drv.storage_pool_get_autostart(p)
    assert os.path.exists(os.path.join(paths.autostart_dir, "p.xml"))
    assert drv.storage_pool_lookup_by_target_path(str(target)) == p
    with pytest.raises(VirtError, match="is still active"):
        drv.storage_pool_undefine(p)
    with pytest.raises(VirtError, match="is still active"):
        drv.storage_pool_delete(p)
    drv.storage_pool_destroy(p)
    assert drv.storage_pool_get_info(p).state == 0
    drv.storage_pool_delete(p)
    assert not target.exists()
    drv.storage_pool_undefine(p)
    assert drv.connect_list_all_storage_pools() == []
    assert not os.path.exists(os.path.join(paths.config_dir, "p.xml"))
    assert events == [("p", 0), ("p", 4), ("p", 2), ("p", "refresh"), ("p", 3), ("p", 5),
                      ("p", 1)]


def test_transient_pool_and_reattach(paths: StoragePaths, tmp_path: Path) -> None:
    drv = HostStorageDriver(StorageNode(paths))
    (tmp_path / "t").mkdir()
    p = drv.storage_pool_create_xml(dir_pool_xml("t", tmp_path / "t"))
    drv.storage_vol_create_xml(p, vol_xml("v.img", MiB))
    assert not drv.storage_pool_is_persistent(p)
    # a new process takes back the active pool with its volumes
    again = HostStorageDriver(StorageNode(paths))
    p2 = again.storage_pool_lookup_by_name("t")
    assert p2.uuid == p.uuid and again.storage_pool_is_active(p2)
    assert again.storage_pool_list_volumes(p2, 10) == ["v.img"]
    again.storage_pool_destroy(p2)
    with pytest.raises(VirtError) as exc:
        again.storage_pool_lookup_by_name("t")
    assert exc.value.code == ErrorCode.NO_STORAGE_POOL
    # create with build makes the directory
    p3 = again.storage_pool_create_xml(dir_pool_xml("u", tmp_path / "u"), 1)
    assert (tmp_path / "u").is_dir() and again.storage_pool_is_active(p3)


def test_volumes_formats_backing_clone(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    other = _pool(drv, tmp_path, "q")
    pool_dir = tmp_path / "p"
    sparse = drv.storage_vol_create_xml(p, vol_xml("sparse.img", 4 * MiB, allocation=0))
    full = drv.storage_vol_create_xml(p, vol_xml("full.img", 2 * MiB))  # allocation = capacity
    qcow = drv.storage_vol_create_xml(p, vol_xml("disk.qcow2", 8 * MiB, fmt="qcow2"))
    info = drv.storage_vol_get_info(sparse)
    assert (info.type, info.capacity, info.allocation) == (0, 4 * MiB, 0)
    assert drv.storage_vol_get_info(full).allocation >= 2 * MiB
    assert os.stat(pool_dir / "full.img").st_size == 2 * MiB
    assert drv.storage_vol_get_info(qcow).capacity == 8 * MiB
    assert _img_info(str(pool_dir / "disk.qcow2"))["format"] == "qcow2"
    assert drv.storage_vol_get_path(qcow) == str(pool_dir / "disk.qcow2")
    assert qcow.key == str(pool_dir / "disk.qcow2")
    assert drv.storage_vol_lookup_by_key(qcow.key) == qcow
    assert drv.storage_vol_lookup_by_path(str(pool_dir / "disk.qcow2")) == qcow
    assert drv.storage_pool_lookup_by_volume(qcow) == p
    # overlay on a backing file
    overlay = drv.storage_vol_create_xml(
        p, vol_xml("overlay.qcow2", 0, fmt="qcow2", backing=str(pool_dir / "disk.qcow2"),
                   backing_fmt="qcow2"))
    xml = drv.storage_vol_get_xml_desc(overlay)
    assert f"<backingStore>\n    <path>{pool_dir / 'disk.qcow2'}</path>" in xml
    assert "<format type='qcow2'/>" in xml and f"<capacity unit='bytes'>{8 * MiB}<" in xml
    # upload data into the raw volume, clone it to qcow2 in another pool and back
    send_all(drv.storage_vol_upload(full, 0, 0), b"A" * 1000)
    clone = drv.storage_vol_create_xml_from(other, vol_xml("clone.qcow2", 0, fmt="qcow2"), full)
    assert _img_info(str(tmp_path / "q" / "clone.qcow2"))["format"] == "qcow2"
    assert drv.storage_vol_get_info(clone).capacity == 2 * MiB
    back = drv.storage_vol_create_xml_from(p, vol_xml("back.img", 3 * MiB), clone)
    assert drv.storage_vol_get_info(back).capacity == 3 * MiB
    data = (pool_dir / "back.img").read_bytes()
    assert data[:1000] == b"A" * 1000 and data[1000:2 * MiB] == bytes(2 * MiB - 1000)
    assert sorted(drv.storage_pool_list_volumes(p, 10)) == [
        "back.img", "disk.qcow2", "full.img", "overlay.qcow2", "sparse.img"]
    assert drv.storage_pool_num_of_volumes(other) == 1
    for v in (sparse, overlay, back):
        drv.storage_vol_delete(v)
    assert not (pool_dir / "sparse.img").exists()
    assert drv.storage_pool_num_of_volumes(p) == 2


def test_resize_wipe(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    raw = drv.storage_vol_create_xml(p, vol_xml("r.img", MiB, allocation=0))
    qcow = drv.storage_vol_create_xml(p, vol_xml("q.qcow2", MiB, fmt="qcow2"))
    drv.storage_vol_resize(raw, 2 * MiB)
    drv.storage_vol_resize(qcow, MiB, 2)  # DELTA
    assert drv.storage_vol_get_info(raw).capacity == 2 * MiB
    assert drv.storage_vol_get_info(qcow).capacity == 2 * MiB
    for v in (raw, qcow):
        with pytest.raises(VirtError) as exc:
            drv.storage_vol_resize(v, MiB)
        assert exc.value.code == ErrorCode.INVALID_ARG
        assert "Can't shrink capacity below current capacity unless shrink flag" in str(exc.value)
    drv.storage_vol_resize(raw, MiB, 4)  # SHRINK
    drv.storage_vol_resize(qcow, MiB, 4)
    assert drv.storage_vol_get_info(raw).capacity == MiB
    assert _img_info(str(tmp_path / "p" / "q.qcow2"))["virtual-size"] == MiB
    with pytest.raises(VirtError, match="Not enough space left in storage pool"):
        drv.storage_vol_resize(raw, 1 << 60, 1)  # ALLOCATE
    # wipe: data replaced by zeros, size kept
    send_all(drv.storage_vol_upload(raw, 4096, 5), b"hello")
    drv.storage_vol_wipe(raw)
    assert (tmp_path / "p" / "r.img").read_bytes() == bytes(MiB)
    with pytest.raises(VirtError, match="wiping algorithm 42 not supported"):
        drv.storage_vol_wipe_pattern(raw, 42)


def test_upload_download_offsets(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    v = drv.storage_vol_create_xml(p, vol_xml("d.img", 64 * 1024, allocation=0))
    payload = bytes(range(256)) * 1200  # 300 KiB: more than one packet, grows the file
    send_all(drv.storage_vol_upload(v, 1000, 0), payload)
    assert drv.storage_vol_get_info(v).capacity == 1000 + len(payload)
    assert recv_all(drv.storage_vol_download(v, 1000, 0)) == payload
    assert recv_all(drv.storage_vol_download(v, 1010, 7)) == payload[10:17]
    assert recv_all(drv.storage_vol_download(v, 0, 1000)) == bytes(1000)
    # length bounds an upload
    s = drv.storage_vol_upload(v, 0, 4)
    s.send(b"abcd")
    with pytest.raises(VirtError, match="cannot write to stream"):
        s.send(b"e")
    s.finish()
    assert recv_all(drv.storage_vol_download(v, 0, 5)) == b"abcd\x00"


def test_refresh_sees_outside_changes(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    v = drv.storage_vol_create_xml(p, vol_xml("mine.img", MiB))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "p" / "new.qcow2"),
                    "5M"], check=True)
    (tmp_path / "p" / "mine.img").unlink()
    assert drv.storage_pool_list_volumes(p, 10) == ["mine.img"]
    drv.storage_pool_refresh(p)
    assert drv.storage_pool_list_volumes(p, 10) == ["new.qcow2"]
    new = drv.storage_vol_lookup_by_name(p, "new.qcow2")
    assert drv.storage_vol_get_info(new).capacity == 5 * MiB
    assert "<format type='qcow2'/>" in drv.storage_vol_get_xml_desc(new)
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_get_info(v)
    assert exc.value.code == ErrorCode.NO_STORAGE_VOL


def test_bad_input(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path)
    pool_dir = tmp_path / "p"
    for name, code in (("a/b", ErrorCode.OPERATION_INVALID), ("..", ErrorCode.INVALID_ARG),
                       (".", ErrorCode.INVALID_ARG)):
        with pytest.raises(VirtError) as exc:
            drv.storage_vol_create_xml(p, vol_xml(name, MiB))
        assert exc.value.code == code, name
    with pytest.raises(VirtError):
        drv.storage_vol_create_xml(p, vol_xml("a\0b", MiB))
    assert os.listdir(pool_dir) == []
    # preallocation past the free space: refused, nothing made
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_create_xml(p, vol_xml("huge.img", 1 << 60))
    assert exc.value.code == ErrorCode.OPERATION_FAILED
    assert "Not enough space left in storage pool" in str(exc.value)
    # sparse is fine (as in libvirt)
    drv.storage_vol_create_xml(p, vol_xml("sparse.img", 1 << 40, allocation=0))
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_create_xml(p, vol_xml("sparse.img", MiB))
    assert exc.value.code == ErrorCode.STORAGE_VOL_EXIST
    # a backing chain that loops: refused, no partial file
    a, b = str(pool_dir / "loop-a.qcow2"), str(pool_dir / "loop-b.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", a, "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", a, "-F", "qcow2", b],
                   check=True)
    subprocess.run(["qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", b, "-F", "qcow2", a],
                   check=True)
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_create_xml(p, vol_xml("top.qcow2", 0, fmt="qcow2", backing=b,
                                              backing_fmt="qcow2"))
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert not (pool_dir / "top.qcow2").exists()
    # raw with a backing store
    with pytest.raises(VirtError, match="backing storage not supported for raw volumes"):
        drv.storage_vol_create_xml(p, vol_xml("r.img", MiB, backing=a))
    assert not (pool_dir / "r.img").exists()
    # a pool path that is a file
    (tmp_path / "file").write_text("x")
    f = drv.storage_pool_define_xml(dir_pool_xml("f", tmp_path / "file"))
    with pytest.raises(VirtError, match="Not a directory"):
        drv.storage_pool_create(f)
    assert not drv.storage_pool_is_active(f)
    # volume in use by a running domain
    drv.node.in_use = lambda path: "vm1" if path.endswith("sparse.img") else None
    vol = drv.storage_vol_lookup_by_name(p, "sparse.img")
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_delete(vol)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "volume 'sparse.img' is still in use." in str(exc.value)
    assert (pool_dir / "sparse.img").exists()
    # inactive pool
    drv.node.in_use = None
    drv.storage_pool_destroy(p)
    with pytest.raises(VirtError, match="storage pool 'p' is not active"):
        drv.storage_pool_list_volumes(p, 10)
    with pytest.raises(VirtError) as exc:
        drv.storage_pool_create_xml("<pool type='bogus'><name>x</name></pool>")
