"""Stock clients against virtkitd's secret driver, side by side with Debian's libvirtd 9.0.

libvirt-python runs one sequence of secret calls (``secret_script.py``) against both daemons
and every result and error (code, domain, message) must be the same. virsh then defines,
sets, reads and lists secrets on virtkitd; a restart keeps persistent values and forgets
ephemeral secrets; the passphrase is nowhere in the daemon's files or log.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import Daemon, start_virtkitd

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import qemu_peers

pytestmark = [pytest.mark.interop, pytest.mark.slow]

VIRSH = shutil.which("virsh") or "virsh"
SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("secret_script.py")
U1 = "11111111-2222-3333-4444-555555555555"
PASSPHRASE = b"interop-passphrase-4c1b9e"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_virtkitd(tmp_path / "vk")
    try:
        yield d
    finally:
        d.stop()


def run_script(uri: str) -> list[list[object]]:
    res = subprocess.run([SYSTEM_PYTHON, str(SCRIPT), uri], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def virsh(uri: str, line: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([VIRSH, "-c", uri, line], capture_output=True, text=True, timeout=60)
    if ok:
        assert res.returncode == 0, f"{line}: {res.stdout}{res.stderr}"
    return res


def test_libvirt_python_sees_the_same_secret_driver_as_libvirtd(daemon: Daemon,
                                                                tmp_path: Path) -> None:
    lv = qemu_peers.start_libvirtd_qemu(tmp_path / "lv", extra_modules=("secret",))
    try:
        theirs = run_script(lv.uri)
    finally:
        lv.stop()
    ours = run_script(daemon.uri(driver="qemu", path="/system"))
    assert len(theirs) > 40
    for a, b in zip(theirs, ours, strict=True):
        assert a == b


def test_virsh_secrets_survive_a_restart_encrypted(daemon: Daemon, tmp_path: Path) -> None:
    uri = daemon.uri(driver="qemu", path="/system")
    xml = tmp_path / "s.xml"
    xml.write_text(f"<secret ephemeral='no' private='no'><uuid>{U1}</uuid>"
                   "<usage type='volume'><volume>/pool/vm1.qcow2</volume></usage></secret>")
    eph = tmp_path / "e.xml"
    eph.write_text("<secret ephemeral='yes' private='yes'>"
                   "<usage type='ceph'><name>client.admin</name></usage></secret>")
    value_file = tmp_path / "value"
    value_file.write_bytes(PASSPHRASE)
    assert "created" in virsh(uri, f"secret-define {xml}").stdout
    assert "created" in virsh(uri, f"secret-define {eph}").stdout
    virsh(uri, f"secret-set-value {U1} --file {value_file} --plain")
    out = virsh(uri, f"secret-get-value {U1}").stdout.strip()
    assert base64.b64decode(out) == PASSPHRASE
    eph_uuid = virsh(uri, "secret-list --ephemeral").stdout.split()[-3]
    virsh(uri, f"secret-set-value {eph_uuid} --file {value_file} --plain")
    res = virsh(uri, f"secret-get-value {eph_uuid}", ok=False)
    assert res.returncode == 1 and "error: Invalid secret: secret is private" in res.stderr
    listing = virsh(uri, "secret-list").stdout
    assert f" {U1}   volume /pool/vm1.qcow2" in listing and "ceph client.admin" in listing
    assert eph_uuid not in virsh(uri, "secret-list --no-ephemeral").stdout
    res = virsh(uri, "secret-undefine 00000000-0000-0000-0000-000000000009", ok=False)
    assert "no secret with matching uuid '00000000-0000-0000-0000-000000000009'" in res.stderr

    daemon.stop()
    d2 = start_virtkitd(daemon.root)
    try:
        uri2 = d2.uri(driver="qemu", path="/system")
        assert base64.b64decode(virsh(uri2, f"secret-get-value {U1}").stdout) == PASSPHRASE
        assert eph_uuid not in virsh(uri2, "secret-list").stdout
    finally:
        d2.stop()
    encoded = (PASSPHRASE, base64.b64encode(PASSPHRASE), PASSPHRASE.hex().encode())
    for dirpath, _dirs, files in os.walk(daemon.root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            assert not any(e in data for e in encoded), f"passphrase in clear in {path}"


def test_stock_virsh_prints_what_it_prints_for_libvirtd(daemon: Daemon, tmp_path: Path) -> None:
    """The same virsh session against both daemons: every line of output and error."""
    xml = tmp_path / "s.xml"
    xml.write_text(f"<secret ephemeral='no' private='no'><uuid>{U1}</uuid>"
                   "<description>vm1 disk</description>"
                   "<usage type='volume'><volume>/pool/vm1.qcow2</volume></usage></secret>")
    bad = tmp_path / "bad.xml"
    bad.write_text("<secret><usage type='iscsi'/></secret>")
    value_file = tmp_path / "value"
    value_file.write_bytes(PASSPHRASE)
    session = [
        f"secret-define {xml}", "secret-list", f"secret-dumpxml {U1}",
        f"secret-get-value {U1}", f"secret-set-value {U1} --file {value_file} --plain",
        f"secret-get-value {U1}", f"secret-get-value {U1} --plain",
        "secret-list --private", "secret-list --no-private --no-ephemeral",
        f"secret-define {bad}", "secret-dumpxml 12345678-0000-0000-0000-000000000000",
        "secret-undefine not-a-uuid", f"secret-undefine {U1}", "secret-list",
    ]

    def run(uri: str) -> list[tuple[int, str, str]]:
        out = []
        for line in session:
            res = virsh(uri, line, ok=False)
            out.append((res.returncode, res.stdout, res.stderr))
        return out

    lv = qemu_peers.start_libvirtd_qemu(tmp_path / "lv", extra_modules=("secret",))
    try:
        theirs = run(lv.uri)
    finally:
        lv.stop()
    ours = run(daemon.uri(driver="qemu", path="/system"))
    assert [r[0] for r in theirs] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    for line, a, b in zip(session, theirs, ours, strict=True):
        assert a == b, line
