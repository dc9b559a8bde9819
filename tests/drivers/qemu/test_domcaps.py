"""Domain capabilities of the QEMU driver against Debian's libvirtd 9.0, side by side.

Stock ``virsh domcapabilities`` (each of its options) against libvirtd's QEMU driver and
against virtkitd's, on this machine's QEMU. The outputs must be equal but for the
differences listed in ``JUSTIFIED`` (also in docs/compat.md, "Domain capabilities").
Unit checks of the probe cache and of the formatter run without daemons.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.drivers.qemu import domcaps, qemucaps_probe
from virtkit.errors import ErrorCode, VirtError

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

QEMU = "/usr/bin/qemu-system-x86_64"
VIRSH = shutil.which("virsh") or "/usr/bin/virsh"

# Option sets compared (virsh's domcapabilities options).
CASES = [
    (), ("--machine", "q35"), ("--machine", "pc"), ("--virttype", "qemu"),
    ("--virttype", "kvm"), ("--arch", "x86_64"), ("--emulatorbin", QEMU),
    ("--virttype", "qemu", "--machine", "q35"), ("--machine", "pc-q35-5.0"),
    ("--machine", "isapc"), ("--machine", "microvm"),
    ("--emulatorbin", QEMU, "--arch", "x86_64", "--machine", "pc", "--virttype", "qemu"),
]
ERROR_CASES = [
    ("--machine", "bogus"), ("--machine", "none"), ("--virttype", "xen"),
    ("--virttype", "bogus"), ("--arch", "aarch64"), ("--arch", "bogus"),
    ("--emulatorbin", "/usr/bin/nope"), ("--emulatorbin", "/usr/bin/qemu-system-i386"),
]
# The host-model CPU (model, vendor, features with their policies) is decoded from QEMU's
# expansion with libvirt's CPU map and decoder (virtkit/cpu), as libvirt's
# virQEMUCapsInitHostCPUModel does: no normalisation. The one justified difference: virtkit
# offers only what its command-line builder runs (so define and start accept what domain
# capabilities say, and virt-manager or virt-install never pick what would be refused).
# libvirtd's answer is cut down by the limits the builder declares (docs/compat.md):
UNSUPPORTED_KINDS = ("hostdev", "filesystem", "tpm")


def _normalise(text: str) -> str:
    return text.strip()


def _virtkit_limits(text: str) -> str:
    """libvirtd's document with what virtkit's builder does not run taken out."""
    from virtkit.drivers.qemu import command

    for kind in UNSUPPORTED_KINDS:
        text = re.sub(rf"<{kind} supported='yes'>.*?</{kind}>", f"<{kind} supported='no'/>",
                      text, flags=re.S)

    def keep(enum_name: str, allowed: frozenset[str], doc: str) -> str:
        def cut(m: re.Match[str]) -> str:
            values = [v for v in re.findall(r"<value>(.*?)</value>", m.group(2))
                      if v in allowed]
            if not values:
                return f"{m.group(1)}<enum name='{enum_name}'/>"
            inner = "".join(f"{m.group(1)}  <value>{v}</value>\n" for v in values)
            return f"{m.group(1)}<enum name='{enum_name}'>\n{inner}{m.group(1)}</enum>"
        return re.sub(rf"( *)<enum name='{enum_name}'>\n(.*?)\n *</enum>", cut, doc,
                      flags=re.S)

    graphics = re.search(r"<graphics supported='yes'>.*?</graphics>", text, re.S)
    if graphics:
        text = text.replace(graphics.group(0),
                            keep("type", command.GRAPHICS_TYPES, graphics.group(0)))
    video = re.search(r"<video supported='yes'>.*?</video>", text, re.S)
    if video:
        text = text.replace(video.group(0), keep("modelType", command.video_types(),
                                                 video.group(0)))
    channel = re.search(r"<channel supported='yes'>.*?</channel>", text, re.S)
    if channel:
        text = text.replace(channel.group(0), keep("type", command.CHARDEV_TYPES,
                                                   channel.group(0)))
    return text


def _virsh(uri: str, *args: str) -> tuple[int, str]:
    out = subprocess.run([VIRSH, "-c", uri, "domcapabilities", *args], capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(libvirtd URI, virtkitd URI), both qemu:///system."""
    with qemu_peers.qemu_system_pair(tmp_path_factory.mktemp("peers")) as uris:
        yield uris


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "default")
def test_domcapabilities_as_libvirtd(peers: tuple[str, str], args: tuple[str, ...]) -> None:
    lv_rc, lv_out = _virsh(peers[0], *args)
    vk_rc, vk_out = _virsh(peers[1], *args)
    assert lv_rc == 0 and vk_rc == 0, (lv_out, vk_out)
    assert "<mode name='host-model' supported='yes'>\n      <model fallback=" in vk_out
    # virt-manager's and virt-install's defaults are offered as libvirtd offers them
    for value in ("spice", "qxl", "spicevmc"):
        assert f"<value>{value}</value>" in lv_out and f"<value>{value}</value>" in vk_out
    assert "<redirdev supported='yes'>" in vk_out
    assert _normalise(vk_out) == _normalise(_virtkit_limits(lv_out))


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("args", ERROR_CASES, ids=" ".join)
def test_domcapabilities_errors_as_libvirtd(peers: tuple[str, str],
                                            args: tuple[str, ...]) -> None:
    lv_rc, lv_out = _virsh(peers[0], *args)
    vk_rc, vk_out = _virsh(peers[1], *args)
    assert lv_rc == vk_rc == 1
    assert vk_out == lv_out


def test_probe_cached_and_invalidated(tmp_path: Path) -> None:
    binary = tmp_path / "qemu-system-x86_64"
    binary.write_text(f'#!/bin/sh\nexec {QEMU} "$@"\n')
    binary.chmod(0o755)
    first = qemucaps_probe.probe(str(binary), str(tmp_path))
    files = list((tmp_path / "capabilities").iterdir())
    assert len(files) == 1
    assert any(m["name"] == "pc-q35-7.2" for m in first["machines"])
    doc = files[0].read_text()
    # a cached answer is reused as long as the stamp matches ...
    files[0].write_text(doc.replace('"pc-q35-7.2"', '"pc-q35-cached"'))
    again = qemucaps_probe.probe(str(binary), str(tmp_path))
    assert any(m["name"] == "pc-q35-cached" for m in again["machines"])
    # ... and re-probed once the binary changes (size and mtime)
    binary.write_text(f'#!/bin/sh\n# upgraded\nexec {QEMU} "$@"\n')
    fresh = qemucaps_probe.probe(str(binary), str(tmp_path))
    assert any(m["name"] == "pc-q35-7.2" for m in fresh["machines"])


def test_errors_without_daemon(tmp_path: Path) -> None:
    probe = qemucaps_probe.probe(QEMU, str(tmp_path))
    with pytest.raises(VirtError) as exc:
        domcaps.resolve(probe, QEMU, None, "bogus", None)
    assert exc.value.code == ErrorCode.INVALID_ARG
    with pytest.raises(VirtError) as exc:
        domcaps.check_args(None, "aarch64", None)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    with pytest.raises(VirtError) as exc:
        qemucaps_probe.stamp("/nonexistent/qemu")
    assert str(exc.value).startswith("Cannot check QEMU binary /nonexistent/qemu")


def test_embed_connection_and_cli(tmp_path: Path) -> None:
    import virtkit

    with virtkit.open(f"qemu:///embed?root={tmp_path}") as conn:
        xml = conn.domain_capabilities(machine="q35", virttype="qemu")
    assert "<machine>pc-q35-7.2</machine>" in xml and "<domain>qemu</domain>" in xml
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "virtkit"), "-c",
                          f"qemu:///embed?root={tmp_path}", "domcapabilities", "--machine",
                          "pc"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "<machine>pc-i440fx-7.2</machine>" in out.stdout
