"""update-device, domif-setlink, domif-getlink, desc and metadata against Debian's virsh 9.0.

Each case is one ';' batch on test:///default (its state lives in one process), run through
``virsh`` and through virtkit's CLI; output, errors and exit status must be the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
VIRTKIT = [sys.executable, "-m", "virtkit.cli.main"]
NS = "http://example.org/virtkit-test/cli"


def _run(argv: list[str]) -> tuple[str, int]:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("LIBVIRT_DEFAULT_URI", None)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=120, check=False)
    return proc.stdout.decode(), proc.returncode


@pytest.mark.parametrize("batch", [
    "desc test; desc test --title; desc test --title --live A  title; desc test --title; "
    "desc test --config Some words; desc test --config; desc test --current --live x",
    f"metadata test {NS}; metadata test {NS} --key vk --set '<app><role>db</role></app>'; "
    f"metadata test {NS}; metadata test {NS} --config; metadata test {NS} --set '<a/>'; "
    f"metadata test {NS} --key 1bad --set '<a/>'; metadata test {NS} --remove; "
    f"metadata test {NS}",
    "domif-getlink test aa:bb:cc:dd:ee:ff; domif-getlink test AA:BB:CC:DD:EE:FF --config; "
    "domif-getlink test 12:34:56:78:9a:bc; domif-getlink test nosuch; "
    "domif-setlink test aa:bb:cc:dd:ee:ff sideways; domif-setlink test nosuch down",
    "domif-setlink test aa:bb:cc:dd:ee:ff down --print-xml",
    "help update-device", "help domif-setlink", "help domif-getlink", "help desc",
    "help metadata",
])
def test_same_as_virsh_on_the_test_driver(batch: str) -> None:
    virsh = _run([VIRSH, "-c", "test:///default", batch])
    assert _run([*VIRTKIT, "-c", "test:///default", batch]) == virsh


def test_update_device_reports_as_virsh(tmp_path: Path) -> None:
    """The test driver has no update-device: both tools report the same failure."""
    xml = tmp_path / "link.xml"
    xml.write_text("<interface type='network'><mac address='aa:bb:cc:dd:ee:ff'/>"
                   "<source network='default'/><link state='down'/></interface>")
    for batch in (f"update-device test {xml} --live", f"update-device test {xml} --current "
                  "--live", f"update-device test {tmp_path}/none.xml"):
        virsh = _run([VIRSH, "-c", "test:///default", batch])
        assert _run([*VIRTKIT, "-c", "test:///default", batch]) == virsh


DOMAIN = """<domain type='test'>
  <name>cm1</name>
  <memory unit='KiB'>1048576</memory>
  <os><type arch='i686'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/tmp/disk.img'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/tmp/a.iso' startupPolicy='optional'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='hdd' bus='ide'/>
      <readonly/>
    </disk>
  </devices>
</domain>
"""


def test_change_media_as_virsh(tmp_path: Path) -> None:
    xml = tmp_path / "cm1.xml"
    xml.write_text(DOMAIN)
    steps = [
        "change-media cm1 hdc /tmp/b.iso --update --print-xml",
        "change-media cm1 /tmp/a.iso --eject --print-xml",
        "change-media cm1 hdd --insert /tmp/c.iso --print-xml",
        "change-media cm1 hdd /dev/sr0 --block --print-xml --config",
        "change-media cm1 hdc --update --print-xml",
        "change-media cm1 hdc --insert /tmp/c.iso --print-xml",
        "change-media cm1 hdd --eject --print-xml",
        "change-media cm1 hdd --print-xml",
        "change-media cm1 hda /tmp/b.iso --print-xml",
        "change-media cm1 sdz /tmp/b.iso --print-xml",
        "change-media cm1 hdc --eject --insert",
        "change-media cm1 hdc --eject --block",
        "change-media cm1 hdc /tmp/b.iso --live --current",
        "change-media cm1 hdc /tmp/b.iso",
        "help change-media",
    ]
    batch = f"define {xml}; " + "; ".join(steps)
    virsh = _run([VIRSH, "-c", "test:///default", batch])
    assert _run([*VIRTKIT, "-c", "test:///default", batch]) == virsh
