"""PCI assignment commands (nodedev-detach, nodedev-reattach, nodedev-reset) and
``nodedev-list --json``: Debian's virsh and virtkit, each against libvirtd 9.0 (QEMU and
nodedev drivers) and against virtkitd, print the same and exit alike. This VM has no
IOMMU, so no device can be bound: the daemons refuse with libvirt's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

PYTHON3 = "/usr/bin/python3"
ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def uris() -> Iterator[dict[str, str]]:
    assert not os.listdir("/sys/kernel/iommu_groups"), "IOMMU present: detach would bind"
    lv = qemu_peers.start_libvirtd_qemu(Path(tempfile.mkdtemp(prefix="vk-hostdev-lv-")),
                                        extra_modules=("nodedev",))
    try:
        with start_virtkitd(Path(tempfile.mkdtemp(prefix="vk-hostdev-vk-"))) as vk:
            yield {"libvirtd": lv.uri, "virtkitd": vk.uri("unix", "/system", "qemu")}
    finally:
        lv.stop()


def _virtkit_argv() -> list[str]:
    script = Path(sys.executable).with_name("virtkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "virtkit.cli.main"]


def _run(tool: list[str], uri: str, args: list[str]) -> tuple[str, str, int]:
    ro = ["-r"] if args[:1] == ["-r"] else []
    out = subprocess.run([*tool, *ro, "-c", uri, *args[len(ro):]], capture_output=True,
                         text=True, timeout=60, env=ENV, stdin=subprocess.DEVNULL)
    return out.stdout, out.stderr, out.returncode


def _pci(uri: str) -> str:
    out = _run(["virsh"], uri, ["nodedev-list", "--cap", "pci"])[0].split()
    assert out, "no PCI device on this host"
    return out[0]


# (arguments, the error's last line (None: success), exit status); PCI stands for the first
# PCI device of the host
CASES = [
    (["nodedev-detach", "PCI"],
     "error: argument unsupported: VFIO device assignment is currently not supported on "
     "this system", 1),
    (["nodedev-detach", "PCI", "--driver", "vfio"],
     "error: argument unsupported: VFIO device assignment is currently not supported on "
     "this system", 1),
    (["nodedev-detach", "--driver", "xen", "PCI"],
     "error: invalid argument: unknown driver name 'xen'", 1),
    (["nodedev-detach", "computer"],
     "error: argument unsupported: VFIO device assignment is currently not supported on "
     "this system", 1),
    (["nodedev-reattach", "PCI"], None, 0),
    (["nodedev-reset", "computer"],
     "error: invalid argument: device computer is not a PCI device", 1),
    (["nodedev-reset", "PCI"], "error: internal error: Unable to reset PCI device", 1),
    (["nodedev-reattach", "no_such_dev"],
     "error: Node device not found: no node device with matching name 'no_such_dev'", 1),
    (["-r", "nodedev-detach", "PCI"],
     "error: operation forbidden: read only access prevents virNodeDeviceDettach", 1),
    (["-r", "nodedev-detach", "PCI", "--driver", "vfio"],
     "error: operation forbidden: read only access prevents virNodeDeviceDetachFlags", 1),
    (["-r", "nodedev-reattach", "PCI"],
     "error: operation forbidden: read only access prevents virNodeDeviceReAttach", 1),
    (["-r", "nodedev-reset", "PCI"],
     "error: operation forbidden: read only access prevents virNodeDeviceReset", 1),
    (["nodedev-detach"], "error: command 'nodedev-detach' requires <device> option", 1),
]


@pytest.mark.parametrize(("args", "last_error", "rc"), CASES,
                         ids=[" ".join(c[0]) for c in CASES])
def test_same_as_virsh_on_both_daemons(uris: dict[str, str], args: list[str],
                                       last_error: str | None, rc: int) -> None:
    pci = _pci(uris["libvirtd"])
    args = [pci if a == "PCI" else a for a in args]
    results = {(daemon, name): _run(tool, uri, args)
               for daemon, uri in uris.items()
               for name, tool in (("virsh", ["virsh"]), ("virtkit", _virtkit_argv()))}
    reference = results[("libvirtd", "virsh")]
    for who, got in results.items():
        assert got == reference, (who, got, reference)
    _, err, status = reference
    assert status == rc
    if last_error is None:
        assert err == ""
    else:
        assert err.splitlines()[-1].startswith(last_error), err


def test_quiet_success(uris: dict[str, str]) -> None:
    """-q drops the "Device ... re-attached" line, as virsh's vshPrintExtra."""
    pci = _pci(uris["libvirtd"])
    for uri in uris.values():
        for tool in (["virsh"], _virtkit_argv()):
            assert _run([*tool, "-q"], uri, ["nodedev-reattach", pci]) == ("", "", 0)


# libvirt-python's view of every device: name, parent, capabilities
_LISTER = r"""
import json, sys, libvirt
conn = libvirt.open(sys.argv[1])
rows = [{"name": d.name(), "parent": d.parent(), "capabilities": d.listCaps()}
        for d in conn.listAllDevices(0)]
print(json.dumps(sorted(rows, key=lambda r: r["name"].lower())))
"""


@pytest.mark.parametrize("daemon", ["libvirtd", "virtkitd"])
def test_nodedev_list_json(uris: dict[str, str], daemon: str) -> None:
    uri = uris[daemon]
    want = json.loads(subprocess.run([PYTHON3, "-c", _LISTER, uri], capture_output=True,
                                     text=True, check=True, timeout=60).stdout)
    assert len(want) > 1
    out, err, rc = _run(_virtkit_argv(), uri, ["nodedev-list", "--json"])
    assert (err, rc) == ("", 0)
    assert out.startswith('[\n  {\n    "name": ')
    assert json.loads(out) == want
    # with --cap, the same selection as the text listing
    out, _, _ = _run(_virtkit_argv(), uri, ["nodedev-list", "--cap", "pci", "--json"])
    text, _, _ = _run(["virsh"], uri, ["nodedev-list", "--cap", "pci"])
    assert [r["name"] for r in json.loads(out)] == text.split()
    assert all("pci" in r["capabilities"] for r in json.loads(out))


def test_help_same_as_virsh() -> None:
    batch = "help nodedev-detach; help nodedev-reattach; help nodedev-reset"
    outs = [subprocess.run([*tool, "-c", "test:///default", batch], capture_output=True,
                           text=True, timeout=60, env=ENV)
            for tool in (["virsh"], _virtkit_argv())]
    assert "nodedev-detach <device> [--driver <string>]" in outs[0].stdout
    assert [(o.stdout, o.stderr, o.returncode) for o in outs[1:]] == [
        (outs[0].stdout, outs[0].stderr, outs[0].returncode)]


# libvirt-python: argv[1] URI, argv[2] device; the outcome of each call as JSON
_CALLER = r"""
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
dev = libvirt.open(sys.argv[1]).nodeDeviceLookupByName(sys.argv[2])
out = []
for call in (lambda: dev.dettach(), lambda: dev.detachFlags("vfio", 0),
             lambda: dev.detachFlags("xen", 0), lambda: dev.reset(), lambda: dev.reAttach()):
    try:
        out.append(["ok", call()])
    except libvirt.libvirtError as e:
        out.append(["err", e.get_error_code(), e.get_error_domain(), e.get_error_message()])
print(json.dumps(out))
"""


def test_python_api_as_libvirt_python(uris: dict[str, str]) -> None:
    """NodeDevice.detach/reset/reattach through virtkitd answer as libvirt-python's calls
    through libvirtd (libvirt's error code, domain and message)."""
    import virtkit
    from virtkit.errors import VirtError

    pci = _pci(uris["libvirtd"])
    want = json.loads(subprocess.run([PYTHON3, "-c", _CALLER, uris["libvirtd"], pci],
                                     capture_output=True, text=True, check=True,
                                     timeout=60).stdout)
    got = []
    with virtkit.open(uris["virtkitd"]) as conn:
        dev = conn.lookup_node_device(pci)
        for call in (lambda: dev.detach(), lambda: dev.detach("vfio"),
                     lambda: dev.detach("xen"), dev.reset, dev.reattach):
            try:
                call()
                got.append(["ok", 0])
            except VirtError as e:
                got.append(["err", int(e.code), int(e.domain), e.message])
    assert got == want
    assert [r[0] for r in want] == ["err", "err", "err", "err", "ok"]
