"""virt-install with its defaults against virtkitd, side by side with libvirtd 9.0.

virt-install asks domain capabilities what to create (SPICE, qxl or virtio video, ich9
sound, a spicevmc channel, USB redirection, ...): ``--print-xml`` must give the same
domain for both daemons for a few OS variants, and a real install of the default x86
VM (the test guest's kernel, TCG) must start on virtkitd and boot, its SPICE display
listening where ``domdisplay`` says.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import wait_marker

from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]

OS_VARIANTS = ("debian11", "fedora37", "ubuntu22.04", "win10", "generic")


@pytest.fixture(scope="module")
def uris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """libvirtd (QEMU and storage drivers: virt-install looks the install media up as
    storage volumes) and virtkitd."""
    root = tmp_path_factory.mktemp("vi")
    lv = qemu_peers.start_libvirtd_qemu(root / "libvirtd", extra_modules=("storage",))
    try:
        vk = start_virtkitd(root / "virtkitd")
        try:
            yield lv.uri, vk.uri("unix", "/system", "qemu")
        finally:
            vk.stop()
    finally:
        lv.stop()


def virt_install(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virt-install", "--connect", uri, *args], capture_output=True,
                          text=True, timeout=240)


def _printed(uri: str, osinfo: str, cdrom: Path) -> str:
    out = virt_install(uri, "--name", f"t-{osinfo}", "--memory", "512", "--osinfo", osinfo,
                       "--disk", "none", "--cdrom", str(cdrom), "--print-xml")
    assert out.returncode == 0, out.stderr
    xml = re.sub(r"<uuid>[^<]*</uuid>|<mac address=\"[^\"]*\"/>", "", out.stdout)
    return xml


@pytest.mark.timeout(300)
@pytest.mark.parametrize("osinfo", OS_VARIANTS)
def test_print_xml_as_with_libvirtd(uris: tuple[str, str], osinfo: str,
                                    tmp_path: Path) -> None:
    cdrom = tmp_path / "install.iso"
    cdrom.write_bytes(b"\0" * 2048)
    theirs, ours = _printed(uris[0], osinfo, cdrom), _printed(uris[1], osinfo, cdrom)
    assert ours.splitlines() == theirs.splitlines()
    assert '<graphics type="spice"' in ours
    assert '<redirdev bus="usb" type="spicevmc"/>' in ours


@pytest.mark.timeout(300)
@pytest.mark.parametrize("osinfo", ("debian11", "win10"))
def test_default_vm_installs_and_boots(uris: tuple[str, str], guest: Any, tmp_path: Path,
                                       osinfo: str) -> None:
    """The default VM (win10: also Hyper-V enlightenments, hypervclock, localtime)."""
    vk = uris[1]
    serial = tmp_path / "serial.log"
    boot = f"kernel={guest.kernel},initrd={guest.initrd},kernel_args={guest.cmdline}"
    out = virt_install(vk, "--name", "vi-default", "--memory", "192", "--vcpus", "1",
                       "--osinfo", osinfo, "--virt-type", "qemu", "--disk", "none",
                       "--network", "none", "--import", "--boot", boot,
                       "--serial", f"file,path={serial}", "--noautoconsole")
    assert out.returncode == 0, out.stderr
    try:
        wait_marker(serial, guest.BOOT_MARKER, timeout=240)
        xml = subprocess.run(["virsh", "-c", vk, "dumpxml", "vi-default"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        wanted = ["<graphics type='spice'", "<sound model='ich9'>",
                  "<redirdev bus='usb' type='spicevmc'>", "<channel type='spicevmc'>"]
        wanted += (["<hyperv", "<relaxed state='on'/>", "<timer name='hypervclock' present='yes'/>",
                    "<model type='qxl'"] if osinfo == "win10"
                   else ["<model type='virtio' heads='1'"])
        for item in wanted:
            assert item in xml, item
        display = subprocess.run(["virsh", "-c", vk, "domdisplay", "vi-default"],
                                 capture_output=True, text=True, timeout=60, check=True)
        m = re.fullmatch(r"spice://127\.0\.0\.1:(\d+)\s*", display.stdout)
        assert m is not None, display.stdout
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10):
            pass
    finally:
        subprocess.run(["virsh", "-c", vk, "destroy", "vi-default"], capture_output=True,
                       timeout=60)
        subprocess.run(["virsh", "-c", vk, "undefine", "vi-default"], capture_output=True,
                       timeout=60)
