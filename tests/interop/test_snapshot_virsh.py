"""Debian's virsh drives snapshots of a real guest through virtkitd's QEMU driver (TCG).

Internal snapshots of the running guest (snapshot-create-as, snapshot-list --tree,
snapshot-revert, snapshot-delete --children), then an external disk-only one
(snapshot-create-as --disk-only --atomic --diskspec): the overlay's backing chain as qemu-img
sees it, the guest still running and writing into the overlay, libvirt's refusal to revert
to it, and its deletion (committed back into the base while the guest runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import qemu_e2e
from virsh_qemu import console_session, qemu_daemon, virsh

pytestmark = [pytest.mark.slow, pytest.mark.interop]
BOOT_TIMEOUT = 90.0  # two CPUs shared with other test runs: be patient, never time things


@pytest.fixture
def daemon() -> Iterator[tuple[Daemon, Path, str]]:
    with qemu_daemon("vks-") as d:
        yield d


def _virsh(uri: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return virsh(uri, *args, timeout=timeout)


def _ok(uri: str, *args: str) -> str:
    r = _virsh(uri, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def _guest_run(uri: str, name: str, command: str, expect: bytes) -> bytes:
    """``virsh console`` on a pty: type ``command``, wait for ``expect``, leave with ^]."""
    seen = console_session(uri, name, command.encode(), expect, BOOT_TIMEOUT,
                           after_command=True)
    assert expect in seen, seen[-1000:]
    return seen


def _write_sector(uri: str, index: int, text: str) -> None:
    """The guest writes ``text`` at sector ``index`` of its disk (synchronously)."""
    _guest_run(uri, "vm1", f"echo {text} | dd of=/dev/vda bs=512 seek={index} count=1 "
               "conv=sync,notrunc,fsync && echo WROTE-''OK", b"WROTE-OK")


def _sector(image: Path, index: int, tmp: Path) -> bytes:
    out = tmp / "sector.raw"
    subprocess.run(["qemu-img", "dd", "-U", "-f", "qcow2", "-O", "raw", "bs=512",
                    f"count={index + 1}", f"skip={index}", f"if={image}", f"of={out}"],
                   check=True, capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


def test_virsh_snapshots_of_a_running_guest(daemon: tuple[Daemon, Path, str]) -> None:
    _, root, uri = daemon
    guest = qemu_e2e.tg.ensure_guest()
    disk = guest.copy_disk(root / "vm1.qcow2")
    xml = root / "vm1.xml"
    xml.write_text(qemu_e2e.domain_xml(guest, root, "vm1", disk=disk))
    _ok(uri, "define", str(xml))
    _ok(uri, "start", "vm1")
    qemu_e2e.wait_marker(qemu_e2e.console_log(root, "vm1"), guest.READY_MARKER,
                         timeout=BOOT_TIMEOUT)

    # internal, while it runs
    assert "Domain snapshot s1 created" in _ok(uri, "snapshot-create-as", "vm1", "s1",
                                               "--description", "first")
    _write_sector(uri, 8, "AFTER-S1")
    assert "Domain snapshot s2 created" in _ok(uri, "snapshot-create-as", "vm1", "s2")
    assert _ok(uri, "snapshot-list", "vm1", "--tree") == "s1\n  |\n  +- s2\n    \n\n"
    listing = _ok(uri, "snapshot-list", "vm1", "--internal")
    assert "s1" in listing and "running" in listing
    assert _ok(uri, "snapshot-current", "vm1", "--name").strip() == "s2"
    assert b"AFTER-S1" in _sector(disk, 8, root)
    _ok(uri, "snapshot-revert", "vm1", "s1")
    assert _ok(uri, "domstate", "vm1", "--reason").strip() == "running (from snapshot)"
    assert b"AFTER-S1" not in _sector(disk, 8, root)  # the disk is back too
    assert "Domain snapshot s1 deleted" in _ok(uri, "snapshot-delete", "vm1", "s1",
                                               "--children")
    assert _ok(uri, "snapshot-list", "vm1", "--name").strip() == ""

    # external, disk-only, atomic
    overlay = root / "vm1-ext1.qcow2"
    out = _ok(uri, "snapshot-create-as", "vm1", "ext1", "--disk-only", "--atomic",
              "--diskspec", f"vda,snapshot=external,file={overlay}")
    assert "Domain snapshot ext1 created" in out
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--backing-chain", "--output=json", str(overlay)],
        capture_output=True, text=True, check=True).stdout)
    assert [(i["filename"], i["format"]) for i in info] == [(str(overlay), "qcow2"),
                                                            (str(disk), "qcow2")]
    assert info[0]["backing-filename"] == str(disk)
    assert _ok(uri, "domstate", "vm1").strip() == "running"
    assert str(overlay) in _ok(uri, "domblklist", "vm1")
    listing = _ok(uri, "snapshot-list", "vm1", "--disk-only")
    assert "ext1" in listing and "disk-snapshot" in listing
    assert _ok(uri, "snapshot-list", "vm1", "--external", "--name").strip() == "ext1"
    snapxml = _ok(uri, "snapshot-dumpxml", "vm1", "ext1")
    assert f"<source file='{overlay}'/>" in snapxml and "snapshot='external'" in snapxml
    _write_sector(uri, 16, "AFTER-EXT")  # the guest keeps writing: into the overlay
    assert b"AFTER-EXT" in _sector(overlay, 16, root)
    assert b"AFTER-EXT" not in _sector(disk, 16, root)

    r = _virsh(uri, "snapshot-revert", "vm1", "ext1")
    assert r.returncode == 1
    assert "revert to external snapshot not supported yet" in r.stderr, r.stderr

    # deletion commits the overlay back into the base, the guest still running
    assert "Domain snapshot ext1 deleted" in _ok(uri, "snapshot-delete", "vm1", "ext1")
    assert not overlay.exists()
    assert b"AFTER-EXT" in _sector(disk, 16, root)
    assert str(disk) in _ok(uri, "domblklist", "vm1")
    assert _ok(uri, "domstate", "vm1").strip() == "running"
    _write_sector(uri, 24, "AFTER-DEL")
    assert b"AFTER-DEL" in _sector(disk, 24, root)
