"""The CPU model commands (cpu-models, cpu-compare, cpu-baseline, hypervisor-cpu-compare,
hypervisor-cpu-baseline): Debian's virsh and virtkit, each against libvirtd 9.0's QEMU
driver and against virtkitd's, print the same and exit alike, for every kind of file virsh
takes the CPUs from (a bare <cpu>, several, a domain, host capabilities, domain
capabilities) and for the files it refuses."""

from __future__ import annotations

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

ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/bin:/bin"}
EPYC = "<cpu mode='custom' match='exact'><model>EPYC</model></cpu>"
HASWELL = ("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor>"
           "<feature name='vmx'/></cpu>")
FILES = {
    "epyc.xml": EPYC,
    "qemu64.xml": "<cpu><model>qemu64</model></cpu>",
    "nehalem.xml": "<cpu><model>Nehalem</model></cpu>",
    "hle.xml": "<cpu><model>EPYC</model><feature name='hle'/></cpu>",
    "two.xml": HASWELL + "\n<cpu><arch>x86_64</arch><model>Westmere</model></cpu>\n",
    "decl.xml": f"<?xml version='1.0' encoding='UTF-8'?>\n{HASWELL}\n",
    "domain.xml": ("<domain type='qemu'><name>d</name><memory>1024</memory>"
                   f"{EPYC}<os><type>hvm</type></os></domain>"),
    "bad.xml": "<cpu",
    "none.xml": "<domain type='qemu'><name>d</name></domain>",
    "unknown.xml": "<cpu><model>nope</model></cpu>",
    "empty.xml": "",
}


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[dict[str, str], Path]]:
    """The daemons' qemu:///system URIs and a directory with the input files (host and
    domain capabilities taken from libvirtd)."""
    lv = qemu_peers.start_libvirtd_qemu(Path(tempfile.mkdtemp(prefix="vk-cpu-lv-")))
    files = Path(tempfile.mkdtemp(prefix="vk-cpu-files-"))
    try:
        with start_virtkitd(Path(tempfile.mkdtemp(prefix="vk-cpu-vk-"))) as vk:
            for name, text in FILES.items():
                (files / name).write_text(text)
            for name, args in (("caps.xml", ["capabilities"]),
                               ("domcaps.xml", ["domcapabilities", "--virttype", "qemu"])):
                out = subprocess.run(["virsh", "-c", lv.uri, *args], capture_output=True,
                                     text=True, check=True, timeout=120, env=ENV)
                (files / name).write_text(out.stdout)
            yield {"libvirtd": lv.uri, "virtkitd": vk.uri("unix", "/system", "qemu")}, files
    finally:
        lv.stop()


def _virtkit_argv() -> list[str]:
    script = Path(sys.executable).with_name("virtkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "virtkit.cli.main"]


# (command line, exit status); run in the directory of FILES
CASES = [
    ("cpu-models x86_64", 0),
    ("cpu-models ppc64le", 0),
    ("cpu-models bogus", 1),
    ("cpu-models ''", 1),
    ("cpu-compare caps.xml", 0),
    ("cpu-compare --error caps.xml", 0),
    ("cpu-compare nehalem.xml", 0),
    ("cpu-compare qemu64.xml", 1),
    ("cpu-compare epyc.xml", 1),
    ("cpu-compare --error epyc.xml", 1),
    ("cpu-compare domain.xml", 1),
    ("cpu-compare decl.xml --validate", 1),
    ("cpu-compare unknown.xml", 1),
    ("cpu-compare bad.xml", 1),
    ("cpu-compare none.xml", 1),
    ("cpu-compare empty.xml", 1),
    ("cpu-compare missing.xml", 1),
    ("cpu-compare", 1),
    ("cpu-baseline caps.xml", 0),
    ("cpu-baseline two.xml", 0),
    ("cpu-baseline --features two.xml", 0),
    ("cpu-baseline --migratable --features caps.xml", 0),
    ("cpu-baseline domcaps.xml", 1),  # its host-model <cpu> names no <arch>
    ("cpu-baseline bad.xml", 1),
    ("hypervisor-cpu-compare --virttype qemu qemu64.xml", 0),
    ("hypervisor-cpu-compare --virttype qemu epyc.xml", 1),
    ("hypervisor-cpu-compare --virttype qemu hle.xml", 1),
    ("hypervisor-cpu-compare --virttype qemu --error hle.xml", 1),
    ("hypervisor-cpu-compare --virttype qemu domcaps.xml", 0),
    ("hypervisor-cpu-compare --virttype qemu --arch x86_64 --emulator "
     "/usr/bin/qemu-system-x86_64 --machine pc domain.xml", 1),
    ("hypervisor-cpu-compare --virttype qemu --arch x86_64 --emulator "
     "/usr/bin/qemu-system-x86_64 --machine pc qemu64.xml", 0),
    ("hypervisor-cpu-compare --virttype qemu --arch aarch64 epyc.xml", 1),
    ("hypervisor-cpu-compare --virttype bogus epyc.xml", 1),
    ("hypervisor-cpu-compare --virttype '' epyc.xml", 1),
    ("hypervisor-cpu-baseline --virttype qemu two.xml", 0),
    ("hypervisor-cpu-baseline --virttype qemu --features --file domcaps.xml", 0),
    ("hypervisor-cpu-baseline --virttype qemu --model Haswell-noTSX", 0),
    ("hypervisor-cpu-baseline --virttype qemu --model Haswell-noTSX --migratable --features", 0),
    ("hypervisor-cpu-baseline --virttype qemu --model nope", 1),
    ("hypervisor-cpu-baseline --virttype qemu", 1),
    ("hypervisor-cpu-baseline --file two.xml --model EPYC", 1),
    ("hypervisor-cpu-baseline none.xml", 1),
]


@pytest.mark.parametrize(("line", "rc"), CASES, ids=[c[0] for c in CASES])
def test_same_as_virsh_on_both_daemons(setup: tuple[dict[str, str], Path], line: str,
                                       rc: int) -> None:
    uris, files = setup
    results = {}
    for daemon, uri in uris.items():
        for name, tool in (("virsh", ["virsh"]), ("virtkit", _virtkit_argv())):
            out = subprocess.run([*tool, "-c", uri, line], capture_output=True, text=True,
                                 timeout=120, env=ENV, cwd=files, stdin=subprocess.DEVNULL)
            results[(daemon, name)] = (out.stdout, out.stderr, out.returncode)
    reference = results[("libvirtd", "virsh")]
    for who, got in results.items():
        assert got == reference, (who, got, reference)
    assert reference[2] == rc, reference


def test_read_only_connections(setup: tuple[dict[str, str], Path]) -> None:
    """cpu-compare reads; hypervisor-cpu-compare and -baseline need a read-write
    connection (libvirt's ACL: connect:write)."""
    uris, files = setup
    for uri in uris.values():
        for tool in (["virsh"], _virtkit_argv()):
            def run(line: str, tool: list[str] = tool, uri: str = uri) -> tuple[str, str, int]:
                out = subprocess.run([*tool, "-r", "-c", uri, line], capture_output=True,
                                     text=True, timeout=120, env=ENV, cwd=files)
                return out.stdout, out.stderr, out.returncode

            assert run("cpu-compare nehalem.xml")[2] == 0
            assert run("hypervisor-cpu-compare --virttype qemu qemu64.xml") == (
                "\n", "error: Failed to compare hypervisor CPU with qemu64.xml\nerror: operation "
                "forbidden: read only access prevents virConnectCompareHypervisorCPU\n", 1)
            assert run("hypervisor-cpu-baseline --model EPYC") == (
                "\n", "error: operation forbidden: read only access prevents "
                "virConnectBaselineHypervisorCPU\n", 1)


def test_help_same_as_virsh() -> None:
    batch = ("help cpu-models; help cpu-compare; help cpu-baseline; "
             "help hypervisor-cpu-compare; help hypervisor-cpu-baseline")
    outs = [subprocess.run([*tool, "-c", "test:///default", batch], capture_output=True,
                           text=True, timeout=60, env=ENV)
            for tool in (["virsh"], _virtkit_argv())]
    assert "hypervisor-cpu-baseline [--file <string>]" in outs[0].stdout
    assert [(o.stdout, o.stderr, o.returncode) for o in outs[1:]] == [
        (outs[0].stdout, outs[0].stderr, outs[0].returncode)]
