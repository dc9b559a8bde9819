"""Side by side with Debian's libvirtd 9.0 (its nodedev driver) on this machine: stock
``virsh`` against libvirtd and against virtkitd prints the same node devices, tree,
per-capability lists and XML for every device."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import libvirtd_available, start_virtkitd

REPO = Path(__file__).resolve().parents[3]
CAPS = ("system", "pci", "usb_device", "usb", "net", "scsi_host", "scsi_target", "scsi",
        "storage", "fc_host", "vports", "scsi_generic", "drm", "mdev_types")


@pytest.fixture(scope="module")
def uris() -> Iterator[tuple[str, str]]:
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    lv_root = Path(tempfile.mkdtemp(prefix="vk-nodedev-lv-"))
    vk_root = Path(tempfile.mkdtemp(prefix="vk-nodedev-vk-"))
    lv = qemu_peers.start_libvirtd_qemu(lv_root, extra_modules=("nodedev",))
    try:
        vk = start_virtkitd(vk_root)
        try:
            yield lv.uri, f"qemu+unix:///system?socket={vk.sock}"
        finally:
            vk.stop()
    finally:
        lv.stop()
        shutil.rmtree(lv_root, ignore_errors=True)
        shutil.rmtree(vk_root, ignore_errors=True)


def virsh(uri: str, *args: str) -> str:
    out = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_list_and_tree(uris: tuple[str, str]) -> None:
    lv, vk = uris
    names = virsh(lv, "nodedev-list")
    assert "computer" in names.split()
    assert virsh(vk, "nodedev-list") == names
    assert virsh(vk, "nodedev-list", "--tree") == virsh(lv, "nodedev-list", "--tree")


@pytest.mark.parametrize("cap", CAPS)
def test_list_by_cap(uris: tuple[str, str], cap: str) -> None:
    lv, vk = uris
    assert virsh(vk, "nodedev-list", "--cap", cap) == virsh(lv, "nodedev-list", "--cap", cap)


def test_every_device_xml(uris: tuple[str, str]) -> None:
    lv, vk = uris
    names = virsh(lv, "nodedev-list").split()
    assert len(names) > 1
    for name in names:
        assert virsh(vk, "nodedev-dumpxml", name) == virsh(lv, "nodedev-dumpxml", name), name


def test_missing_device_error(uris: tuple[str, str]) -> None:
    lv, vk = uris
    errors = []
    for uri in (lv, vk):
        out = subprocess.run(["virsh", "-c", uri, "nodedev-dumpxml", "no_such_dev"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        errors.append(out.stderr)
    assert errors[0] == errors[1]
    assert "no node device with matching name 'no_such_dev'" in errors[0]


def test_detach_refused_alike(uris: tuple[str, str]) -> None:
    """Without an IOMMU (this VM) libvirtd refuses nodedev-detach before touching the
    device; virtkit's detach gives the same error (the test asserts the precondition)."""
    from virtkit.drivers.nodedev.hostdev import PCIHostdev
    from virtkit.drivers.nodedev.sysfs import HostPaths
    from virtkit.drivers.nodedev.table import release, table_for
    from virtkit.errors import VirtError

    assert not os.listdir("/sys/kernel/iommu_groups"), "IOMMU present: detach would bind"
    lv, _ = uris
    name = next(n for n in virsh(lv, "nodedev-list", "--cap", "pci").split())
    out = subprocess.run(["virsh", "-c", lv, "nodedev-detach", name], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    table = table_for(HostPaths(), monitor=False)
    try:
        with pytest.raises(VirtError) as exc:
            PCIHostdev(table).detach(name)
    finally:
        release(table)
    assert out.stderr.splitlines()[1] == f"error: {exc.value}"


def test_hotplug_events_through_virtkitd(uris: tuple[str, str]) -> None:
    """nodedev:///system of virtkitd, over its socket: an ifb link made and deleted in
    this namespace arrives as CREATED then DELETED (libvirtd 9.0 listens to udevd's
    netlink group, so without udevd, as here, it reports neither)."""
    import secrets
    import threading

    import virtkit

    _, vk = uris
    sock = vk.split("socket=", 1)[1]
    link = f"vke{secrets.token_hex(4)}"
    seen: list[tuple[str, int]] = []
    cond = threading.Condition()

    def on_event(dev: object, eid: int, event: int, detail: int) -> None:
        with cond:
            seen.append((dev.name, int(event)))  # type: ignore[attr-defined]
            cond.notify_all()

    conn = virtkit.open(f"nodedev:///system?socket={sock}")
    try:
        handle = conn.on_node_device_event(on_event, 0)
        try:
            subprocess.run(["ip", "link", "add", link, "type", "ifb"], check=True)
            subprocess.run(["ip", "link", "del", link], check=True)
            with cond:
                assert cond.wait_for(
                    lambda: [e for n, e in seen if n.startswith(f"net_{link}_")] == [0, 1], 30)
        finally:
            handle.cancel()
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        conn.close()


@pytest.mark.parametrize("args", [("--all",), ("--inactive",), ("--cap", "pci,net")])
def test_list_options(uris: tuple[str, str], args: tuple[str, ...]) -> None:
    lv, vk = uris
    assert virsh(vk, "nodedev-list", *args) == virsh(lv, "nodedev-list", *args)


def test_every_device_info(uris: tuple[str, str]) -> None:
    lv, vk = uris
    for name in virsh(lv, "nodedev-list").split():
        assert virsh(vk, "nodedev-info", name) == virsh(lv, "nodedev-info", name), name


_PY_SCRIPT = r"""
import json, sys
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
out = {}
for dev in conn.listAllDevices(0):
    out[dev.name()] = [dev.parent(), dev.listCaps(), dev.numOfCaps()]
out["#count"] = conn.numOfDevices(None, 0)
out["#names"] = sorted(conn.listDevices("net", 0))
errors = []
for call in (lambda: conn.nodeDeviceLookupByName("../computer"),
             lambda: conn.nodeDeviceLookupSCSIHostByWWN("2001001b32a9da4e", "21"),
             lambda: conn.listAllDevices(1 << 29)):
    try:
        call()
        errors.append(None)
    except libvirt.libvirtError as e:
        errors.append([e.get_error_code(), e.get_error_domain(), e.get_error_message()])
out["#errors"] = errors
print(json.dumps(out, sort_keys=True))
"""


def test_libvirt_python_sees_the_same(uris: tuple[str, str]) -> None:
    """libvirt-python (Debian's, under /usr/bin/python3): parents, capabilities, counts,
    and the errors of hostile lookups and bad flags are the same on both daemons."""
    import json

    seen = []
    for uri in uris:
        out = subprocess.run(["/usr/bin/python3", "-c", _PY_SCRIPT, uri], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        seen.append(json.loads(out.stdout))
    assert seen[0]["computer"] == [None, ["system"], 1]
    assert seen[1] == seen[0]
