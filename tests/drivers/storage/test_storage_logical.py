"""The logical (LVM) pool backend: command lines with a fake runner, then real LVM on
loop devices (two sparse image files, attached with ``losetup`` and detached after).

Without device-mapper in the kernel (containers, microVMs) the backend runs LVM with
activation off: everything but device nodes and sparse LVs is still real LVM metadata.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from virtkit.conf.storage_pool import StoragePoolDef
from virtkit.conf.storage_vol import StorageVolDef
from virtkit.constants import StoragePoolBuildFlags as BF
from virtkit.constants import StorageVolResizeFlags as RF
from virtkit.constants import StorageVolWipeAlgorithm as WA
from virtkit.drivers.storage.backend import VOL_BLOCK, VolState
from virtkit.drivers.storage.backend_logical import (
    LVM_BASE_CONFIG,
    LogicalBackend,
    LvmTool,
    device_mapper_available,
    run_command,
    zero_fill,
)
from virtkit.errors import ErrorCode, VirtError

MIB = 1024 * 1024


def pool_xml(vg: str, devices: Sequence[str], target: str | None = None) -> StoragePoolDef:
    devs = "".join(f"<device path='{d}'/>" for d in devices)
    tgt = f"<target><path>{target}</path></target>" if target else ""
    return StoragePoolDef.from_xml(
        f"<pool type='logical'><name>{vg}</name><source>{devs}<name>{vg}</name></source>"
        f"{tgt}</pool>")


def vol_xml(name: str, capacity_mib: int, allocation_mib: int | None = None,
            backing: str | None = None) -> StorageVolDef:
    alloc = (f"<allocation unit='MiB'>{allocation_mib}</allocation>"
             if allocation_mib is not None else "")
    back = f"<backingStore><path>{backing}</path></backingStore>" if backing else ""
    return StorageVolDef.from_xml(
        f"<volume><name>{name}</name><capacity unit='MiB'>{capacity_mib}</capacity>"
        f"{alloc}{back}</volume>")


# ------------------------------------------------------------------ fake runner


class FakeRunner:
    """Records argv; answers from a queue of (status, stdout, stderr)."""

    def __init__(self, *answers: tuple[int, str, str]) -> None:
        self.calls: list[list[str]] = []
        self.answers = list(answers)

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.answers.pop(0) if self.answers else (0, "", "")

    def commands(self) -> list[list[str]]:
        """argv without the ``--config STRING`` pair."""
        out = []
        for c in self.calls:
            if len(c) > 2 and c[1] == "--config":
                out.append([c[0], *c[3:]])
            else:
                out.append(c)
        return out


def lvs_json(*rows: dict[str, str]) -> tuple[int, str, str]:
    import json
    return 0, json.dumps({"report": [{"lv": list(rows)}]}), ""


def lv_row(name: str, size: int, attr: str = "-wi-a-----", origin: str = "",
           uid: str = "U-1") -> dict[str, str]:
    return {"lv_name": name, "origin": origin, "lv_uuid": uid, "lv_size": str(size),
            "lv_attr": attr}


def test_every_command_carries_the_udev_free_config() -> None:
    run = FakeRunner()
    LvmTool(activation=True, runner=run).run("vgchange", "-aly", "vg0")
    LvmTool(activation=False, runner=run).run("vgchange", "-aly", "vg0")
    assert run.calls[0] == ["vgchange", "--config", LVM_BASE_CONFIG, "-aly", "vg0"]
    assert run.calls[1][2] == "global { activation=0 } " + LVM_BASE_CONFIG
    assert "udev_sync=0" in LVM_BASE_CONFIG and "udev_rules=0" in LVM_BASE_CONFIG
    assert "obtain_device_list_from_udev=0" in LVM_BASE_CONFIG


def test_child_failure_is_an_internal_error_naming_the_command() -> None:
    run = FakeRunner((5, "", "  Volume group \"vg0\" not found\n"))
    with pytest.raises(VirtError) as ei:
        LvmTool(runner=run).run("vgchange", "-aln", "vg0")
    assert ei.value.code == ErrorCode.INTERNAL_ERROR
    assert "unexpected exit status 5" in str(ei.value)
    assert 'Volume group "vg0" not found' in str(ei.value)


def test_names_and_paths_follow_libvirt_defaults() -> None:
    b = LogicalBackend(pool_xml("vgA", ["/dev/sdz"]), activation=True, runner=FakeRunner())
    assert (b.vg_name, b.target_path, b.vol_path("lv")) == ("vgA", "/dev/vgA", "/dev/vgA/lv")
    b2 = LogicalBackend(StoragePoolDef.from_xml(
        "<pool type='logical'><name>p</name><target><path>/dev/other</path></target></pool>"),
        activation=True, runner=FakeRunner())
    # As in libvirt, a logical pool's target is always /dev/<source name>.
    assert (b2.vg_name, b2.vol_path("x")) == ("p", "/dev/p/x")
    assert b.vol_type == VOL_BLOCK and b.default_vol_format is None


def test_option_like_names_are_refused() -> None:
    b = LogicalBackend(pool_xml("vgA", ["/dev/sdz"]), activation=True, runner=FakeRunner())
    with pytest.raises(VirtError):
        b.create_vol(vol_xml("-rf", 4))
    bad = LogicalBackend(pool_xml("vgA", ["sdz"]), activation=True, runner=FakeRunner())
    with pytest.raises(VirtError) as ei:
        bad.build(BF.OVERWRITE)
    assert ei.value.code == ErrorCode.CONFIG_UNSUPPORTED


def test_build_flags() -> None:
    b = LogicalBackend(pool_xml("vgA", ["/dev/sdz"]), activation=True, runner=FakeRunner())
    with pytest.raises(VirtError) as ei:
        b.build(BF.OVERWRITE | BF.NO_OVERWRITE)
    assert ei.value.code == ErrorCode.INVALID_ARG and "mutually exclusive" in str(ei.value)
    with pytest.raises(VirtError) as ei:
        b.build(BF.REPAIR)
    assert "unsupported flags (0x1)" in str(ei.value)


def test_build_refuses_a_device_with_data_unless_overwrite(tmp_path: Path) -> None:
    dev = tmp_path / "d.img"
    dev.write_bytes(b"x" * 4096)
    run = FakeRunner((0, "TYPE=ext4\n", ""))
    b = LogicalBackend(pool_xml("vgA", [str(dev)]), activation=True, runner=run)
    with pytest.raises(VirtError) as ei:
        b.build()
    assert ei.value.code == ErrorCode.STORAGE_POOL_BUILT
    assert "forced overwrite is necessary" in str(ei.value)
    assert dev.read_bytes() == b"x" * 4096  # untouched
    run = FakeRunner((0, "TYPE=LVM2_member\n", ""))
    b = LogicalBackend(pool_xml("vgA", [str(dev)]), activation=True, runner=run)
    with pytest.raises(VirtError, match="already formatted using 'LVM2_member'"):
        b.build()


def test_build_commands_and_cleanup_on_failure(tmp_path: Path) -> None:
    a, c = tmp_path / "a", tmp_path / "c"
    for f in (a, c):
        f.write_bytes(b"\xff" * (2 * MIB))
    run = FakeRunner((2, "", ""), (0, "", ""), (2, "", ""), (0, "", ""), (5, "", "boom"))
    b = LogicalBackend(pool_xml("vgA", [str(a), str(c)]), activation=True, runner=run)
    with pytest.raises(VirtError, match="boom"):
        b.build()
    assert run.commands() == [
        ["blkid", "-p", "-o", "export", str(a)], ["pvcreate", str(a)],
        ["blkid", "-p", "-o", "export", str(c)], ["pvcreate", str(c)],
        ["vgcreate", "vgA", str(a), str(c)],
        ["pvremove", str(a)], ["pvremove", str(c)],
    ]
    # The first MiB of each device was zeroed before pvcreate, the rest left alone.
    data = a.read_bytes()
    assert data[:MIB] == bytes(MIB) and data[MIB:] == b"\xff" * MIB


def test_lvcreate_command_lines() -> None:
    run = FakeRunner((0, "", ""), lvs_json(lv_row("full", 8 * MIB)),
                     (0, "", ""), lvs_json(lv_row("sp", 20 * MIB, attr="swi-a-s---")),
                     (0, "", ""), lvs_json(lv_row("snap", 8 * MIB, attr="swi-a-s---",
                                                  origin="full")))
    b = LogicalBackend(pool_xml("vgA", ["/dev/sdz"], "/dev/vgA"), activation=True,
                       runner=run)
    full = b.create_vol(vol_xml("full", 8))
    sparse = b.create_vol(vol_xml("sp", 20, allocation_mib=4))
    snap = b.create_vol(vol_xml("snap", 8, backing="/dev/vgA/full"))
    cmds = run.commands()
    assert cmds[0] == ["lvcreate", "--name", "full", "-L", "8192K", "vgA", "--yes"]
    assert cmds[2] == ["lvcreate", "--name", "sp", "-L", "4096K", "--type", "snapshot",
                       "--virtualsize", "20480K", "vgA", "--yes"]
    assert cmds[4] == ["lvcreate", "--name", "snap", "-L", "8192K", "-s", "/dev/vgA/full",
                       "--yes"]
    assert (full.key, full.path, full.capacity) == ("U-1", "/dev/vgA/full", 8 * MIB)
    assert sparse.extra["sparse"] is True and full.extra["sparse"] is False
    assert snap.backing == "/dev/vgA/full"


def test_refresh_skips_thin_pools_inactive_lvs_and_virtual_origins() -> None:
    vgs = (0, '{"report":[{"vg":[{"vg_name":"vgA","vg_size":"1000","vg_free":"400"}]}]}', "")
    rows = lvs_json(lv_row("a", 100), lv_row("pool", 200, attr="twi-a-tz--"),
                    lv_row("off", 100, attr="-wi-------"),
                    lv_row("sp", 100, attr="swi-a-s---", origin="[sp_vorigin]"))
    b = LogicalBackend(pool_xml("vgA", []), activation=True, runner=FakeRunner(vgs, rows))
    size, vols = b.refresh()
    assert (size.capacity, size.allocation, size.available) == (1000, 600, 400)
    assert [v.name for v in vols] == ["a", "sp"]
    assert vols[1].backing is None and vols[1].extra["sparse"] is True
    # Without activation nothing is ever active, so state 'X' LVs are listed.
    rows = lvs_json(lv_row("a", 100, attr="-wi-XX----"))
    b = LogicalBackend(pool_xml("vgA", []), activation=False, runner=FakeRunner(vgs, rows))
    assert [v.name for v in b.refresh()[1]] == ["a"]


def test_delete_vol_falls_back_to_deactivating() -> None:
    run = FakeRunner((5, "", "in use"), (0, "", ""), (0, "", ""))
    b = LogicalBackend(pool_xml("vgA", []), activation=True, runner=run)
    b.delete_vol(VolState(name="lv", path="/dev/vgA/lv", key="k"))
    assert run.commands() == [["lvremove", "-f", "vgA/lv"], ["lvchange", "-aln", "vgA/lv"],
                              ["lvremove", "-f", "vgA/lv"]]


def test_resize_rules() -> None:
    run = FakeRunner()
    b = LogicalBackend(pool_xml("vgA", []), activation=True, runner=run)
    vol = VolState(name="lv", path="/dev/vgA/lv", key="k", capacity=8 * MIB)
    b.resize_vol(vol, 16 * MIB)
    with pytest.raises(VirtError) as ei:
        b.resize_vol(vol, 4 * MIB)
    assert ei.value.code == ErrorCode.INVALID_ARG
    b.resize_vol(vol, 4 * MIB, RF.SHRINK)
    b.resize_vol(vol, 8 * MIB)  # no change: no command
    assert run.commands() == [["lvresize", "-L", "16384K", "vgA/lv"],
                              ["lvresize", "-f", "-L", "4096K", "vgA/lv"]]
    vol.extra["sparse"] = True
    with pytest.raises(VirtError) as ei:
        b.resize_vol(vol, 16 * MIB)
    assert ei.value.code == ErrorCode.NO_SUPPORT


def test_wipe(tmp_path: Path) -> None:
    f = tmp_path / "lv"
    f.write_bytes(b"\xaa" * (3 * MIB + 5))
    b = LogicalBackend(pool_xml("vgA", []), activation=True, runner=FakeRunner())
    vol = VolState(name="lv", path=str(f), key="k", capacity=3 * MIB + 5)
    b.wipe_vol(vol, WA.ZERO)
    assert f.read_bytes() == bytes(3 * MIB + 5)
    with pytest.raises(VirtError, match="'trim' algorithm not supported"):
        b.wipe_vol(vol, WA.TRIM)
    with pytest.raises(VirtError):
        b.wipe_vol(vol, 99)
    vol.extra["sparse"] = True
    with pytest.raises(VirtError, match="is sparse, volume wipe not supported") as ei:
        b.wipe_vol(vol, WA.ZERO)
    assert ei.value.code == ErrorCode.NO_SUPPORT


def test_zero_fill_stops_at_the_end(tmp_path: Path) -> None:
    f = tmp_path / "small"
    f.write_bytes(b"\x01" * 100)
    zero_fill(str(f), MIB)
    assert f.read_bytes() == bytes(100)
    with pytest.raises(VirtError):
        zero_fill(str(tmp_path / "missing"), 10)


# ------------------------------------------------------------ real LVM on loop devices


def _lvm(*argv: str) -> tuple[int, str, str]:
    tool = LvmTool(activation=device_mapper_available())
    return run_command(tool.argv(*argv))


@pytest.fixture
def loopdevs(tmp_path: Path) -> Iterator[list[str]]:
    """Two 64 MiB loop devices on sparse files; detached (by name) afterwards."""
    devices: list[str] = []
    try:
        for i in range(2):
            img = tmp_path / f"pv{i}.img"
            with open(img, "wb") as f:
                f.truncate(64 * MIB)
            out = subprocess.run(["losetup", "--find", "--show", str(img)],
                                 capture_output=True, text=True, check=True)
            devices.append(out.stdout.strip())
        yield devices
    finally:
        for dev in devices:
            subprocess.run(["losetup", "-d", dev], capture_output=True)


@pytest.fixture
def vg_name(loopdevs: list[str]) -> Iterator[str]:
    """A fresh VG name; whatever a test left of it (VG, PV labels) is removed."""
    name = f"vkt{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(Exception):
        _lvm("vgremove", "-f", name)
    for dev in loopdevs:
        with contextlib.suppress(Exception):
            _lvm("pvremove", "-ff", "-y", dev)


def test_loop_devices_are_available() -> None:
    out = subprocess.run(["losetup", "-f"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("/dev/loop"), out.stderr


def test_logical_pool_lifecycle_on_loop_devices(loopdevs: list[str], vg_name: str) -> None:
    pool = pool_xml(vg_name, loopdevs, f"/dev/{vg_name}")
    b = LogicalBackend(pool)
    assert b.lvm.activation == device_mapper_available()
    assert not b.check()
    with pytest.raises(VirtError, match="cannot find logical volume group name"):
        b.start()

    b.build()
    with pytest.raises(VirtError) as ei:  # the devices now carry PV labels
        LogicalBackend(pool).build(BF.NO_OVERWRITE)
    assert ei.value.code == ErrorCode.STORAGE_POOL_BUILT
    b.start()

    size, vols = b.refresh()
    assert vols == []
    assert 100 * MIB <= size.capacity <= 128 * MIB
    assert size.allocation == 0 and size.available == size.capacity

    made = {n: b.create_vol(vol_xml(n, mib)) for n, mib in
            (("small", 4), ("odd", 10), ("big", 40))}
    assert made["small"].capacity == 4 * MIB
    assert made["odd"].capacity == 12 * MIB  # rounded up to whole 4 MiB extents
    assert made["big"].path == f"/dev/{vg_name}/big"
    assert len({v.key for v in made.values()}) == 3
    assert all(len(v.key) == 38 and v.key.count("-") == 6 for v in made.values())  # LV UUIDs
    assert b.check()  # VG found with our devices (and /dev/VG there, with device-mapper)
    with pytest.raises(VirtError):  # the name is taken
        b.create_vol(vol_xml("small", 4))
    with pytest.raises(VirtError):  # more than the group holds
        b.create_vol(vol_xml("huge", 1024))

    # An LV made behind the pool's back shows up on refresh.
    rc, _out, err = _lvm("lvcreate", "-n", "byhand", "-L", "8M", vg_name, "--yes")
    assert rc == 0, err
    size, vols = b.refresh()
    by_name = {v.name: v for v in vols}
    assert sorted(by_name) == ["big", "byhand", "odd", "small"]
    assert by_name["byhand"].capacity == 8 * MIB
    assert {k: by_name[k].key for k in made} == {k: v.key for k, v in made.items()}
    assert size.allocation == (4 + 12 + 40 + 8) * MIB
    assert size.available == size.capacity - size.allocation

    small = by_name["small"]
    b.resize_vol(small, 12 * MIB)
    assert b.vol_state(small).capacity == 12 * MIB
    small = b.vol_state(small)
    with pytest.raises(VirtError):
        b.resize_vol(small, 4 * MIB)
    b.resize_vol(small, 4 * MIB, RF.SHRINK)
    assert b.vol_state(small).capacity == 4 * MIB

    for v in list(b.refresh()[1]):
        b.delete_vol(v)
    assert b.refresh()[1] == []
    b.stop()
    b.delete()
    rc, out, _err = _lvm("vgs", "--noheadings", "-o", "vg_name")
    assert vg_name not in out.split()
    for dev in loopdevs:  # pvremove wiped the labels
        assert _lvm("pvs", dev)[0] != 0


def _built_pool(loopdevs: list[str], vg_name: str, activation: bool) -> LogicalBackend:
    b = LogicalBackend(pool_xml(vg_name, loopdevs, f"/dev/{vg_name}"), activation=activation)
    b.build()
    b.start()
    return b


def _remove_pool(b: LogicalBackend) -> None:
    for v in list(b.refresh()[1]):
        b.delete_vol(v)
    b.stop()
    b.delete()


def test_without_activation_sparse_and_device_nodes_are_refused(loopdevs: list[str],
                                                               vg_name: str) -> None:
    """LVM with activation off (what the backend picks without device-mapper; forced here,
    so this runs on every kernel): sparse LVs need device-mapper's snapshot target, and an
    LV has no device node to open."""
    b = _built_pool(loopdevs, vg_name, activation=False)
    with pytest.raises(VirtError, match="device-mapper"):
        b.create_vol(vol_xml("sparse", 16, allocation_mib=4))
    assert "sparse" not in {v.name for v in b.refresh()[1]}
    small = b.create_vol(vol_xml("small", 4))
    assert not os.path.exists(small.path)
    with pytest.raises(VirtError, match="Failed to open storage volume"):
        b.wipe_vol(small, WA.ZERO)
    _remove_pool(b)


def test_with_device_mapper_sparse_volumes_and_wipe(loopdevs: list[str], vg_name: str) -> None:
    """Needs device-mapper in the kernel to activate LVs: detected, and skipped with the
    reason where it is absent (docs/testing.md lists this test)."""
    if not device_mapper_available():
        pytest.skip("kernel feature absent: this kernel has no device-mapper (/proc/misc), "
                    "so LVM cannot activate logical volumes")
    b = _built_pool(loopdevs, vg_name, activation=True)
    sp = b.create_vol(vol_xml("sparse", 16, allocation_mib=4))
    assert sp.extra["sparse"] is True
    b.delete_vol(sp)
    small = b.create_vol(vol_xml("small", 4))
    assert os.path.exists(small.path)
    with open(small.path, "r+b") as f:
        f.write(b"\x55" * 4096)
    b.wipe_vol(b.vol_state(small), WA.ZERO)
    with open(small.path, "rb") as f:
        assert f.read(4 * MIB) == bytes(4 * MIB)
    _remove_pool(b)


def test_build_over_existing_data_needs_overwrite(loopdevs: list[str], vg_name: str) -> None:
    with open(loopdevs[0], "r+b") as f:  # ext2's superblock magic: blkid sees "ext2"
        f.seek(1024 + 56)
        f.write(b"\x53\xef")
    pool = pool_xml(vg_name, loopdevs)
    b = LogicalBackend(pool)
    with pytest.raises(VirtError, match="forced overwrite is necessary") as ei:
        b.build()
    assert ei.value.code == ErrorCode.STORAGE_POOL_BUILT
    assert _lvm("pvs", loopdevs[0])[0] != 0  # nothing was labelled
    b.build(BF.OVERWRITE)
    b.start()
    b._match_source()  # the VG holds our devices
    b.delete()
    assert not b.check()


def test_find_pool_sources_lists_the_group(loopdevs: list[str], vg_name: str,
                                           tmp_path: Path) -> None:
    """virConnectFindStoragePoolSources('logical'): our VG with both loop PVs."""
    from virtkit.drivers.storage.driver import HostStorageDriver
    from virtkit.drivers.storage.node import StorageNode
    from virtkit.drivers.storage.paths import StoragePaths

    drv = HostStorageDriver(StorageNode(StoragePaths.embed(str(tmp_path / "root"))))
    try:
        before = drv.connect_find_storage_pool_sources("logical", None, 0)
        assert f"<name>{vg_name}</name>" not in before
        assert before.startswith("<sources>\n") and before.endswith("</sources>\n")
        LogicalBackend(pool_xml(vg_name, loopdevs)).build()
        xml = drv.connect_find_storage_pool_sources("logical", None, 0)
        want = ("  <source>\n"
                + "".join(f"    <device path='{d}'/>\n" for d in loopdevs)
                + f"    <name>{vg_name}</name>\n    <format type='lvm2'/>\n  </source>\n")
        assert want in xml
        with pytest.raises(VirtError) as ei:
            drv.connect_find_storage_pool_sources("logical", None, 1)
        assert ei.value.code == ErrorCode.INVALID_ARG
    finally:
        drv.close()


def test_wipe_block_device(loopdevs: list[str]) -> None:
    """The shared wipe on a real block device: zeros over all of it, scrub patterns."""
    dev = loopdevs[0]
    b = LogicalBackend(pool_xml("vgW", []), activation=True, runner=FakeRunner())
    vol = VolState(name="lv", path=dev, key="k", type=VOL_BLOCK, capacity=64 * MIB)
    with open(dev, "r+b") as f:
        f.write(b"\x55" * MIB)
        f.seek(63 * MIB)
        f.write(b"\x66" * MIB)
    b.wipe_vol(vol, WA.ZERO)
    with open(dev, "rb") as f:
        assert f.read(MIB) == bytes(MIB)
        f.seek(63 * MIB)
        assert f.read() == bytes(MIB)
    b.wipe_vol(vol, WA.RANDOM)
    with open(dev, "rb") as f:
        head = f.read(MIB)
    assert head.startswith(b"\x01\x02\x03SCRUB") and head.count(0) < MIB // 2
    with pytest.raises(VirtError) as ei:
        b.wipe_vol(vol, WA.TRIM)
    assert ei.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
