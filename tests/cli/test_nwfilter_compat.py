"""virtkit's nwfilter-* commands against Debian's virsh 9.0, on the same daemon: libvirtd
9.0's nwfilter driver (in a network namespace of its own) and virtkitd's.

Each case is one ';' batch run through both tools against one daemon (its h4-* filters
and bindings removed before each run); output, errors and exit status must agree.
Bindings program the daemon's firewall, so they are made against libvirtd only.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.testing.peers import libvirtd_available, start_virtkitd

sys.path.insert(0, str(Path(__file__).parent))
from test_virsh_compat import VIRSH, _run, _virtkit_argv

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

UUID = "5a9f2e59-8b0e-4c73-9a5f-3f64c1d0e7a1"
FILES = {
    "f.xml": f"<filter name='h4-f' chain='ipv4'><uuid>{UUID}</uuid>"
             "<rule action='accept' direction='out' priority='500'><ip/></rule></filter>",
    "f2.xml": f"<filter name='h4-f' chain='ipv4'><uuid>{UUID}</uuid>"
              "<rule action='drop' direction='in' priority='400'><tcp dstportstart='22'/>"
              "</rule></filter>",
    "bad.xml": "<filter name='h4-bad'><rule/></filter>",
    "b.xml": "<filterbinding><owner><name>vm1</name>"
             "<uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>"
             "<portdev name='h4tap0'/><mac address='52:54:00:11:22:33'/>"
             "<filterref filter='h4-f'/></filterbinding>",
}

CASES = [
    f"nwfilter-define f.xml; nwfilter-dumpxml h4-f; nwfilter-dumpxml {UUID}; "
    "nwfilter-define f2.xml; nwfilter-dumpxml h4-f --xpath //rule; "
    "nwfilter-undefine h4-f; nwfilter-undefine h4-f",
    "nwfilter-define bad.xml; nwfilter-define missing.xml; nwfilter-dumpxml h4-nope; "
    "nwfilter-undefine 11111111-2222-3333-4444-555555555555",
    "nwfilter-binding-dumpxml h4tap9; nwfilter-binding-delete h4tap9",
    "help nwfilter-define; help nwfilter-binding-create; help filter",
]
LIBVIRTD_ONLY = [
    "nwfilter-define f.xml; nwfilter-binding-create b.xml; nwfilter-binding-list; "
    "nwfilter-binding-dumpxml h4tap0; nwfilter-binding-create b.xml; "
    "nwfilter-binding-delete h4tap0; nwfilter-binding-delete h4tap0; nwfilter-binding-list",
    "nwfilter-define f.xml; nwfilter-list",
]


@pytest.fixture(scope="module")
def daemons() -> Iterator[dict[str, str]]:
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    ns = f"vk-nwf-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    root = Path(tempfile.mkdtemp(prefix="vk-nwfilter-cli-"))
    try:
        lv = qemu_peers.start_libvirtd_qemu(root / "libvirtd", extra_modules=("nwfilter",),
                                            netns=ns)
        try:
            vk = start_virtkitd(root / "virtkitd")
            try:
                yield {"libvirtd": lv.uri, "virtkitd": vk.uri("unix", "/system", "qemu")}
            finally:
                vk.stop()
        finally:
            lv.stop()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _clean(uri: str) -> None:
    with virtkit.open(uri) as conn:
        for binding in conn.list_nwfilter_bindings():
            binding.delete()
        for nwfilter in conn.list_nwfilters():
            if nwfilter.name.startswith("h4-"):
                nwfilter.undefine()


def _both(uri: str, batch: str, cwd: Path, *options: str) -> list[tuple[str, int]]:
    for name, text in FILES.items():
        (cwd / name).write_text(text)
    out = []
    for argv in ([VIRSH], _virtkit_argv()):
        _clean(uri)
        out.append(_run([*argv, "-c", uri, *options, batch], {}, cwd))
    _clean(uri)
    return out


@pytest.mark.parametrize("peer", ["libvirtd", "virtkitd"])
@pytest.mark.parametrize("batch", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_same_as_virsh(peer: str, batch: str, daemons: dict[str, str], tmp_path: Path) -> None:
    assert VIRSH is not None, "Debian's virsh (libvirt-clients) must be installed"
    want, got = _both(daemons[peer], batch, tmp_path)
    assert got == want, f"batch: {batch}"


@pytest.mark.parametrize("batch", LIBVIRTD_ONLY, ids=["bindings", "list"])
def test_bindings_same_as_virsh(batch: str, daemons: dict[str, str], tmp_path: Path) -> None:
    want, got = _both(daemons["libvirtd"], batch, tmp_path)
    assert got == want, f"batch: {batch}"


@pytest.mark.parametrize("peer", ["libvirtd", "virtkitd"])
def test_read_only_same_as_virsh(peer: str, daemons: dict[str, str], tmp_path: Path) -> None:
    batch = "nwfilter-define f.xml; nwfilter-binding-create b.xml; nwfilter-binding-list"
    want, got = _both(daemons[peer], batch, tmp_path, "-r")
    assert got == want
    assert "read only access prevents virNWFilterDefineXML" in got[0]
