"""End to end: a real TCG guest on a storage volume (``<disk type='volume'>``).

The template disk goes into a dir pool through an upload stream; the guest boots from the volume
and writes its marker at offset 0; while it runs the volume cannot be deleted, resized or wiped;
after destroy a download stream brings the marker back. Hot-plugging a volume disk works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker

from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

VOLUME_DISK = ("<disk type='volume' device='disk'><driver name='qemu' type='raw'/>"
               "<source pool='images' volume='{vol}'/><target dev='{dev}' bus='virtio'/></disk>")


def _pool(conn: Any, root: Path) -> Any:
    pool = conn.define_storage_pool(
        f"<pool type='dir'><name>images</name><target><path>{root / 'images'}</path>"
        "</target></pool>")
    pool.build(0)
    pool.start(0)
    return pool


def _upload(vol: Any, data: bytes) -> None:
    stream = vol.upload(0, len(data), 0)
    for i in range(0, len(data), 256 * 1024):
        stream.send(data[i:i + 256 * 1024])
    stream.finish()


def _download(vol: Any, length: int) -> bytes:
    stream = vol.download(0, length, 0)
    out = bytearray()
    while chunk := stream.recv():
        out += chunk
    stream.finish()
    return bytes(out)


def test_guest_boots_from_a_volume(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    pool = _pool(conn, root)
    template = guest.raw.read_bytes()
    vol = pool.create_volume(f"<volume><name>vm1.raw</name><capacity>{len(template)}"
                             "</capacity><target><format type='raw'/></target></volume>")
    _upload(vol, template)
    assert guest.DISK_MARKER.encode() not in _download(vol, 512)

    xml = domain_xml(guest, root, "vm1", extra_devices=VOLUME_DISK.format(vol="vm1.raw",
                                                                          dev="vda"))
    dom = conn.define_domain(xml)
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER)

    # The live XML keeps the volume source, as libvirt's does; the path is known inside.
    live = dom.xml()
    assert "<source pool='images' volume='vm1.raw'" in live
    assert dom.block_info("vda").capacity == len(template)
    assert dom.stats()["block.0.path"] == vol.path()

    for what, call in (("delete", lambda: vol.delete(0)),
                       ("resize", lambda: vol.resize(len(template) * 2, 0)),
                       ("wipe", lambda: vol.wipe(0))):
        with pytest.raises(VirtError) as exc:
            call()
        assert exc.value.code == ErrorCode.OPERATION_INVALID, what
        assert "volume 'vm1.raw' is still in use" in str(exc.value), what

    dom.destroy()
    assert guest.DISK_MARKER.encode() in _download(vol, 512)
    vol.delete(0)
    with pytest.raises(VirtError) as exc:
        dom.start()
    assert exc.value.code == ErrorCode.NO_STORAGE_VOL
    assert "no storage vol with matching name 'vm1.raw'" in str(exc.value)


def test_volume_disk_errors_and_hotplug(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    xml = domain_xml(guest, root, "vm2", machine="pc", extra_devices=VOLUME_DISK.format(vol="data",
                                                                          dev="vdb"))
    dom = conn.define_domain(xml)
    with pytest.raises(VirtError) as exc:  # no such pool
        dom.start()
    assert exc.value.code == ErrorCode.NO_STORAGE_POOL
    pool = _pool(conn, root)
    pool.create_volume("<volume><name>data</name><capacity>1048576</capacity></volume>")
    pool.destroy()
    with pytest.raises(VirtError) as exc:  # pool not active
        dom.start()
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "storage pool 'images' containing volume 'data' is not active" in str(exc.value)
    assert not dom.is_active()

    pool.start(0)
    dom.start()
    wait_marker(console_log(root, "vm2"), guest.READY_MARKER)
    extra = pool.create_volume("<volume><name>hot</name><capacity>1048576</capacity></volume>")
    dom.attach_device(VOLUME_DISK.format(vol="hot", dev="vdc"), 1)  # AFFECT_LIVE
    assert "volume='hot'" in dom.xml()
    with pytest.raises(VirtError) as exc:
        extra.delete(0)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    dom.destroy()
    extra.delete(0)
