"""Internal snapshots of a guest with read-only and empty CD-ROMs: virtkitd beside libvirtd 9.0.

A TCG guest with a qcow2 disk, a read-only raw CD-ROM and an empty CD-ROM; the same stock
``virsh`` snapshot commands (create shut off and running, dump, revert both ways, delete
running and shut off, a refused internal snapshot of the raw CD-ROM) against both daemons
must give the same status, output and errors, the same snapshot ``<disks>`` (the CD-ROMs
with ``snapshot='no'``) and leave the same internal snapshots in the qcow2 image.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, console_log, domain_xml, wait_marker

from virtkit.testing.peers import start_virtkitd

pytestmark = [pytest.mark.slow, pytest.mark.interop]

BOOT_TIMEOUT = 180.0  # a hang guard: TCG on a shared two-core machine


def _snapshot_facts(xml: str) -> str:
    """State, memory mode and the aligned ``<disks>`` of a snapshot document."""
    doc = ET.fromstring(xml)
    disks = [f"{d.get('name')}={d.get('snapshot')}" for d in doc.findall("disks/disk")]
    memory = doc.find("memory")
    return (f"state={doc.findtext('state')} memory="
            f"{memory.get('snapshot') if memory is not None else None} disks={','.join(disks)}")


def _tags(disk: Path) -> list[str]:
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(disk)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [line.split()[1] for line in out.splitlines()[2:] if line.strip()]


def _session(uri: str, root: Path, guest: Any) -> list[tuple[Any, ...]]:
    disk = guest.copy_disk(root / "ro.qcow2", "qcow2")
    iso = root / "a.iso"
    with open(iso, "wb") as f:
        f.truncate(1 << 20)
    cdroms = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
              f"<source file='{iso}'/><target dev='sda' bus='sata'/><readonly/></disk>"
              "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
              "<target dev='sdb' bus='sata'/><readonly/></disk>")
    (root / "dom.xml").write_text(domain_xml(guest, root, "ro", disk=disk, memory_mib=128,
                                             extra_devices=cdroms))
    (root / "bad.xml").write_text("<domainsnapshot><name>bad</name><disks>"
                                  "<disk name='sda' snapshot='internal'/></disks>"
                                  "</domainsnapshot>")

    def virsh(*args: str) -> tuple[Any, ...]:
        r = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                           timeout=300)
        out = r.stdout
        if args[0] == "snapshot-dumpxml" and r.returncode == 0:
            out = _snapshot_facts(out)
        return tuple(a.replace(str(root), "ROOT") for a in args), r.returncode, \
            out.replace(str(root), "ROOT"), r.stderr.replace(str(root), "ROOT")

    out = [virsh("define", str(root / "dom.xml")),
           virsh("snapshot-create-as", "ro", "off"),
           virsh("snapshot-dumpxml", "ro", "off"),
           virsh("start", "ro")]
    wait_marker(console_log(root, "ro"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    out += [virsh("snapshot-create-as", "ro", "live"),
            virsh("snapshot-dumpxml", "ro", "live"),
            virsh("snapshot-create", "ro", str(root / "bad.xml")),
            virsh("snapshot-revert", "ro", "off"),
            virsh("domstate", "ro", "--reason"),
            virsh("snapshot-revert", "ro", "live"),
            virsh("domstate", "ro", "--reason"),
            virsh("snapshot-list", "ro", "--name"),
            virsh("snapshot-delete", "ro", "live"),
            virsh("destroy", "ro"),
            virsh("snapshot-delete", "ro", "off"),
            virsh("snapshot-list", "ro", "--name")]
    out.append((("qemu-img-tags",), _tags(disk)))
    out.append(virsh("undefine", "ro"))
    return out


def test_same_as_libvirtd(tmp_path: Path, guest: Any) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    ours_root, theirs_root = tmp_path / "vk", tmp_path / "lv"
    for d in (ours_root, theirs_root):
        d.mkdir()
        d.chmod(0o755)
    peer = qemu_peers.start_libvirtd_qemu(theirs_root / "d")
    try:
        theirs = _session(peer.uri, theirs_root, guest)
    finally:
        peer.stop()
    # what libvirt 9.0 does with this guest: the CD-ROMs are left out, the raw one refused
    facts = {step[0][1:3]: step for step in theirs if step[0][0] == "snapshot-dumpxml"}
    assert "disks=vda=internal,sda=no,sdb=no" in facts[("ro", "live")][2]
    assert "memory=internal" in facts[("ro", "live")][2]
    assert "state=shutoff" in facts[("ro", "off")][2]
    failed = [step for step in theirs if len(step) > 2 and step[1] != 0]
    assert [step[0][0] for step in failed] == ["snapshot-create"], theirs
    assert "internal snapshot for disk sda unsupported for storage type raw" in failed[0][3]
    assert theirs[10][2].strip() == "running (from snapshot)", theirs[10]
    daemon = start_virtkitd(ours_root)
    try:
        ours = _session(daemon.uri("unix", "/system", "qemu"), ours_root, guest)
    finally:
        daemon.stop()
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine == ref
