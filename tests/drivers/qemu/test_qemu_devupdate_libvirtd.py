"""Device updates, metadata and balloon statistics: virtkitd beside Debian's libvirtd 9.0.

The same guest XML and the same stock ``virsh`` commands against both daemons; their
output, errors and exit status must be the same (the counters of ``dommemstat`` vary from
guest to guest, so only its field names are compared).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, console_log, domain_xml, wait_marker, wait_until

from virtkit.testing.peers import start_virtkitd

pytestmark = [pytest.mark.slow, pytest.mark.interop]

MAC = "52:54:00:12:34:56"
NS = "http://example.org/virtkit-test/cmp"


def _steps(root: Path, a: Path, b: Path) -> list[tuple[str, ...]]:
    def dev(name: str, xml: str) -> str:
        path = root / f"{name}.xml"
        path.write_text(xml)
        return str(path)

    cd = "<disk type='file' device='cdrom'><source file='{}'/><target dev='sda' bus='{}'{}/>" \
         "<readonly/></disk>"
    nic = "<interface type='user'><mac address='{}'/><model type='{}'/></interface>"
    return [
        ("change-media", "cmp", "sda", str(b), "--update"),
        ("change-media", "cmp", "sda", "--eject"),
        ("change-media", "cmp", "sda", str(a), "--insert"),
        ("domblklist", "cmp"),
        ("domif-setlink", "cmp", MAC, "down"), ("domif-getlink", "cmp", MAC),
        ("domif-setlink", "cmp", MAC, "down", "--config"),
        ("domif-getlink", "cmp", MAC, "--config"),
        ("update-device", "cmp", dev("tray", cd.format(b, "sata", " tray='open'")), "--live"),
        ("update-device", "cmp", dev("nodisk", cd.format(b, "sata", "").replace("sda", "sdz")),
         "--live"),
        ("update-device", "cmp", dev("bus", cd.format(b, "scsi", "")), "--live"),
        ("update-device", "cmp", dev("model", nic.format(MAC, "e1000")), "--live"),
        ("update-device", "cmp", dev("nomac", nic.format("52:54:00:00:00:01", "virtio")),
         "--live"),
        ("update-device", "cmp", dev("vnc", "<graphics type='vnc' autoport='yes'/>"), "--live"),
        ("update-device", "cmp", str(root / "nodisk.xml"), "--config"),
        ("desc", "cmp", "--title", "--live", "T1"), ("desc", "cmp", "--live", "D1"),
        ("desc", "cmp", "--title"), ("desc", "cmp", "--title", "--config"),
        ("metadata", "cmp", "--uri", NS, "--key", "vk", "--live", "--set",
         "<app><role>db</role></app>"),
        ("metadata", "cmp", "--uri", NS), ("metadata", "cmp", "--uri", NS, "--config"),
        ("metadata", "cmp", "--uri", "http://example.org/none"),
        ("metadata", "cmp", "--uri", NS, "--key", "1bad", "--live", "--set", "<a/>"),
        ("dommemstat", "cmp", "--period", "1", "--live"),
        ("wait-stats",),
        ("dommemstat", "cmp"),
        ("domstats", "cmp", "--balloon"),
        ("destroy", "cmp"),
        ("dommemstat", "cmp"),
        ("dommemstat", "cmp", "--period", "2", "--live"),
        ("dommemstat", "cmp", "--period", "2", "--config"),
        ("start", "cmp"),
        ("domif-getlink", "cmp", MAC),
        ("destroy", "cmp"),
    ]


def _session(uri: str, root: Path, guest: Any) -> list[tuple[Any, ...]]:
    a, b = root / "a.iso", root / "b.iso"
    for p, size in ((a, 1 << 20), (b, 2 << 20)):
        with open(p, "wb") as f:
            f.truncate(size)
    cd = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
          f"<source file='{a}'/><target dev='sda' bus='sata'/><readonly/></disk>")
    xml = domain_xml(guest, root, "cmp", memory_mib=128, extra_devices=cd).replace(
        "<interface type='user'><model type='virtio'/></interface>",
        f"<interface type='user'><mac address='{MAC}'/><model type='virtio'/></interface>")
    (root / "dom.xml").write_text(xml)

    def virsh(*args: str) -> tuple[Any, ...]:
        r = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                           timeout=120)
        return args[0], r.returncode, r.stdout.replace(str(root), "ROOT"), \
            r.stderr.replace(str(root), "ROOT")

    assert virsh("define", str(root / "dom.xml"))[1] == 0
    assert virsh("start", "cmp")[1] == 0
    wait_marker(console_log(root, "cmp"), guest.READY_MARKER, timeout=180)
    out = []
    for step in _steps(root, a, b):
        if step == ("wait-stats",):  # until the guest has sent its first statistics
            wait_until(lambda: "usable" in virsh("dommemstat", "cmp")[2], 120,
                       "the guest's balloon statistics")
            continue
        out.append(virsh(*step))
    virsh("undefine", "cmp")
    return out


def _names(text: str) -> list[str]:
    """The field names of dommemstat (``name value``) or domstats (``name=value``)."""
    return [line.split()[0].split("=")[0] for line in text.splitlines() if line.strip()]


def test_same_as_libvirtd(tmp_path: Path, guest: Any) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    ours_root, theirs_root = tmp_path / "vk", tmp_path / "lv"
    for d in (ours_root, theirs_root):
        d.mkdir()
        d.chmod(0o755)
    daemon = start_virtkitd(ours_root)
    try:
        ours = _session(daemon.uri("unix", "/system", "qemu"), ours_root, guest)
    finally:
        daemon.stop()
    peer = qemu_peers.start_libvirtd_qemu(theirs_root / "d")
    try:
        theirs = _session(peer.uri, theirs_root, guest)
    finally:
        peer.stop()
    assert [x[:2] for x in ours] == [x[:2] for x in theirs]
    for mine, ref in zip(ours, theirs, strict=True):
        if mine[0] in ("dommemstat", "domstats") and mine[1] == 0 and mine[2]:
            assert _names(mine[2]) == _names(ref[2])
        else:
            assert mine == ref
