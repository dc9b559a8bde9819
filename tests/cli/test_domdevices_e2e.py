"""End to end: the device commands of the virtkit CLI on a real TCG guest (qemu:///embed).

Every step is its own ``virtkit`` process on the same root (embedded guests outlive the process
that started them): a raw file is hot-plugged with attach-disk --live, domblklist and domblkinfo
see it, detach-disk takes it away; attach-interface --config shows in domiflist --inactive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
from qemu_e2e import QemuRoot, console_log, domain_xml, tg, wait_marker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest() -> Any:
    """The built test guest (kernel, initrd, markers)."""
    return tg.ensure_guest()


def _virtkit(uri: str, batch: str) -> tuple[str, int]:
    """One virtkit CLI run: (stdout + stderr, exit status)."""
    script = Path(sys.executable).with_name("virtkit")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "virtkit.cli.main"]
    env = {k: v for k, v in os.environ.items() if k != "LIBVIRT_DEFAULT_URI"}
    env.update(LC_ALL="C", LANG="C")
    proc = subprocess.run(
        [*argv, "-c", uri, batch],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        timeout=120,
        check=False,
    )
    return proc.stdout.decode("utf-8", "replace"), proc.returncode


def _ok(uri: str, batch: str) -> str:
    out, rc = _virtkit(uri, batch)
    assert rc == 0, f"{batch}:\n{out}"
    return out


def test_disk_and_interface_hotplug_through_the_cli(guest: Any) -> None:
    qroot = QemuRoot()
    root, uri = qroot.path, qroot.uri
    try:
        xml_file = root / "vm.xml"
        xml_file.write_text(domain_xml(guest, root, "vmdev", machine="pc"))
        hot = root / "hot.raw"
        with hot.open("wb") as handle:
            handle.truncate(4 * 1024 * 1024)
        _ok(uri, f"define {xml_file}; start vmdev")
        wait_marker(console_log(root, "vmdev"), guest.READY_MARKER)

        # no --targetbus: 'vdb' implies virtio, as in libvirt
        attach = f"attach-disk vmdev {hot} vdb --live --driver qemu --subdriver raw"
        out = _ok(uri, attach)
        assert out.startswith("Disk attached successfully\n")
        out = _ok(uri, "domblklist vmdev")
        assert f" vdb      {hot}\n" in out
        out = _ok(uri, "domblklist vmdev --details")
        assert f" file   disk     vdb      {hot}\n" in out
        out = _ok(uri, "domblkstat vmdev vdb")
        assert out.startswith("vdb rd_req ") and "vdb wr_bytes " in out, out
        with pytest.raises(AssertionError, match="invalid path: vdz"):
            _ok(uri, "domblkstat vmdev vdz")
        docs = json.loads(_ok(uri, "domblklist vmdev --json"))
        assert [(d["type"], d["target"], d["source"]) for d in docs] == [
            ("file", "vdb", str(hot))
        ]
        out = _ok(uri, "domblkinfo vmdev vdb")
        assert out.startswith("Capacity:       4194304\n")
        out = _ok(uri, "domblkinfo vmdev --all --human")
        assert " vdb      4.000 MiB" in out

        out = _ok(uri, "detach-disk vmdev vdb --live")
        assert out.startswith("Disk detached successfully\n")
        deadline = time.monotonic() + 30
        while " vdb " in _ok(uri, "domblklist vmdev") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert " vdb " not in _ok(uri, "domblklist vmdev")

        out = _ok(
            uri,
            "attach-interface vmdev network default --config --model virtio "
            "--mac 52:54:00:12:34:56",
        )
        assert out.startswith("Interface attached successfully\n")
        out = _ok(uri, "domiflist vmdev --inactive")
        assert "network   default   virtio   52:54:00:12:34:56" in out
        assert "52:54:00:12:34:56" not in _ok(uri, "domiflist vmdev")
        docs = json.loads(_ok(uri, "domiflist vmdev --inactive --json"))
        assert {
            "interface": None,
            "type": "network",
            "source": "default",
            "model": "virtio",
            "mac": "52:54:00:12:34:56",
        } in docs
        _ok(uri, "destroy vmdev")
    finally:
        qroot.open()  # so that cleanup destroys whatever still runs
        left = qroot.cleanup()
    assert not left, f"QEMU processes left running under {root}: {left}"
