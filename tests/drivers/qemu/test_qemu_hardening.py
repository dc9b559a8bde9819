"""Issue 13 item 7 with real TCG guests: a getXMLDesc racing a transient domain's destroy
answers "Domain not found"; vol-clone and vol-download of a disk a running guest writes
are refused by QEMU's image lock (no ``qemu-img -U``), and work once it stopped."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml

from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

ROUNDS = 12
READERS = 3


def _race_round(conn: Any, guest: Any, root: Path, n: int) -> tuple[int, list[str]]:
    """Readers call xml() until the domain is gone while the main thread destroys it."""
    dom = conn.create_domain(domain_xml(guest, root, f"tr{n}"))
    calls, bad = [0], []
    lock = threading.Lock()
    started = threading.Barrier(READERS + 1)

    def reader() -> None:
        started.wait()
        while True:
            try:
                dom.xml()
            except VirtError as exc:
                with lock:
                    calls[0] += 1
                    if exc.code != ErrorCode.NO_DOMAIN:
                        bad.append(f"{exc.code}: {exc}")
                return
            except Exception as exc:  # any other failure is the bug
                with lock:
                    bad.append(repr(exc))
                return
            with lock:
                calls[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for t in threads:
        t.start()
    started.wait()
    dom.destroy()
    for t in threads:
        t.join(30)
    return calls[0], bad


def test_get_xml_desc_racing_destroy_is_not_found(qroot: QemuRoot, conn: Any,
                                                  guest: Any) -> None:
    attempts, failures = 0, []
    for n in range(ROUNDS):
        calls, bad = _race_round(conn, guest, qroot.path, n)
        attempts += calls
        failures += bad
    print(f"getXMLDesc vs destroy: {attempts} calls over {ROUNDS} rounds, "
          f"{len(failures)} failures")
    assert not failures, failures[:5]


def _pool(conn: Any, root: Path) -> Any:
    pool = conn.define_storage_pool(
        f"<pool type='dir'><name>images</name><target><path>{root / 'images'}</path>"
        "</target></pool>")
    pool.build(0)
    pool.start(0)
    return pool


def _volume_guest(conn: Any, guest: Any, root: Path, readonly: bool) -> tuple[Any, Any]:
    pool = _pool(conn, root)
    vol = pool.create_volume(
        "<volume><name>data.qcow2</name><capacity>16777216</capacity>"
        "<target><format type='qcow2'/></target></volume>")
    ro = "<readonly/>" if readonly else ""
    disk = ("<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source pool='images' volume='data.qcow2'/><target dev='vdb' bus='virtio'/>{ro}"
            "</disk>")
    dom = conn.define_domain(domain_xml(guest, root, "vm1", extra_devices=disk))
    dom.start()
    return pool, vol


CLONE = ("<volume><name>{name}</name><capacity>16777216</capacity>"
         "<target><format type='qcow2'/></target></volume>")


def _download(vol: Any) -> bytes:
    stream = vol.download(0, 0, 0)
    out = bytearray()
    while chunk := stream.recv():
        out += chunk
    stream.finish()
    return bytes(out)


def test_clone_and_download_of_a_written_disk_are_refused(qroot: QemuRoot, conn: Any,
                                                          guest: Any) -> None:
    pool, vol = _volume_guest(conn, guest, qroot.path, readonly=False)
    with pytest.raises(VirtError) as exc:
        pool.create_volume_from(CLONE.format(name="copy.qcow2"), vol)
    assert 'Failed to get shared "write" lock' in str(exc.value)
    assert not (qroot.path / "images" / "copy.qcow2").exists()
    with pytest.raises(VirtError) as exc:
        _download(vol)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert 'Failed to get shared "write" lock' in str(exc.value)
    conn.lookup_domain("vm1").destroy()
    copy = pool.create_volume_from(CLONE.format(name="copy.qcow2"), vol)
    assert copy.info().capacity == 16777216
    assert _download(vol)[:4] == b"QFI\xfb"


def test_clone_of_a_read_only_disk_is_allowed(qroot: QemuRoot, conn: Any,
                                              guest: Any) -> None:
    pool, vol = _volume_guest(conn, guest, qroot.path, readonly=True)
    copy = pool.create_volume_from(CLONE.format(name="copy.qcow2"), vol)
    assert copy.info().capacity == 16777216
    assert _download(vol)[:4] == b"QFI\xfb"
    conn.lookup_domain("vm1").destroy()


@pytest.mark.parametrize("extra", [
    "<hub type='usb'/>",  # an element the command-line builder does not handle
    "<interface type='user'><model type='virtio'/><coalesce><rx><frames max='7'/></rx>"
    "</coalesce></interface>",  # a child it does not handle
])
def test_define_refuses_what_start_would_refuse(qroot: QemuRoot, conn: Any, guest: Any,
                                                extra: str) -> None:
    """A definition the driver cannot start is refused at define, with the error start
    gives, and nothing is saved: no VM that can never start again."""
    xml = domain_xml(guest, qroot.path, "norun", extra_devices=extra)
    with pytest.raises(VirtError) as info:
        conn.define_domain(xml)
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "is not supported by the qemu driver" in info.value.message
    assert "norun" not in conn.list_defined_domain_names()
    assert not list(Path(qroot.path).rglob("norun.xml"))
