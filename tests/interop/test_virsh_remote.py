"""Debian's stock ``virsh`` against virtkitd, over the unix, read-only and TCP sockets.

The command script of tests/cli/test_virsh_compat.py is run once through
``virsh -c test:///default`` (libvirt's test driver in-process: the reference)
and once through ``virsh -c test+unix:///default?socket=<virtkitd>``: output
and exit status must agree after the same masking of volatile fields.  Each
virsh invocation is its own connection, and the daemon's test:///default node
lives only while a connection holds it (as in libvirtd), so every case starts
from a fresh node on both sides.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import test_virsh_compat as compat  # type: ignore[import-not-found]

from virtkit.testing.peers import Daemon, start_libvirtd, start_virtkitd

pytestmark = pytest.mark.interop

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
LOCAL = "test:///default"
N_CASES = len(compat.cases(Path("/d")))


@pytest.fixture(scope="module")
def virtkitd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd")) as daemon:
        yield daemon
        assert daemon.proc.poll() is None, daemon.log_text()


def _virsh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[str, int]:
    text, rc = compat._run([VIRSH, *args], env or {}, cwd, tries=3)
    return str(text), int(rc)


def _same(want: tuple[str, int], got: tuple[str, int], daemon_uri: str, what: str) -> None:
    # `uri` prints the URI the client opened: the only legitimate difference.
    got_text = got[0].replace(daemon_uri, LOCAL)
    assert compat._mask(got_text) == compat._mask(want[0]), what
    assert got[1] == want[1], what


@pytest.mark.parametrize("index", range(N_CASES), ids=compat._case_ids())
def test_script_same_as_local_virsh(index: int, virtkitd: Daemon, tmp_path: Path) -> None:
    editors = compat._write_files(tmp_path)
    batch, env = compat.cases(tmp_path)[index]
    env = {k: editors.get(v, v) for k, v in env.items()}
    want = _virsh(["-c", LOCAL, batch], tmp_path, env)
    for leftover in tmp_path.glob("*.save"):
        leftover.unlink()
    uri = virtkitd.uri("unix")
    got = _virsh(["-c", uri, batch], tmp_path, env)
    _same(want, got, uri, f"batch: {batch}")


@pytest.mark.parametrize("argv", [a for a in compat.ARGV_CASES if a != ["-c"]],
                         ids=lambda a: " ".join(a)[:30])
def test_global_options_same_as_local_virsh(argv: list[str], virtkitd: Daemon,
                                            tmp_path: Path) -> None:
    compat._write_files(tmp_path)
    args = [a.replace("{dom}", str(tmp_path / "dom.xml")) for a in argv]
    uri = virtkitd.uri("unix")
    want = _virsh(["-c", LOCAL, *args], tmp_path)
    got = _virsh(["-c", uri, *args], tmp_path)
    _same(want, got, uri, f"argv: {args}")


def test_readonly_socket(virtkitd: Daemon, tmp_path: Path) -> None:
    """``virsh -r`` on libvirt-sock-ro: reads work, writes fail with libvirt's own words."""
    uri = virtkitd.uri("unix-ro")
    reads = "list --all; dominfo test; net-list --all; pool-list --all; domstate test"
    want = _virsh(["-r", "-c", LOCAL, reads], tmp_path)
    got = _virsh(["-r", "-c", uri, reads], tmp_path)
    _same(want, got, uri, reads)
    assert got[1] == 0 and " test " in got[0]

    out, rc = _virsh(["-r", "-c", uri, "destroy test"], tmp_path)
    assert rc == 1
    assert "error: operation forbidden: read only access prevents virDomainDestroy" in out
    # The read-only socket forces read-only even when the client does not ask for it.
    out, rc = _virsh(["-c", uri, "destroy test; net-destroy default"], tmp_path)
    assert rc == 1
    assert "read only access prevents virDomainDestroy" in out
    assert "read only access prevents virNetworkDestroy" in out
    # and nothing was destroyed: a read-write client still sees it running
    out, rc = _virsh(["-c", virtkitd.uri("unix"), "domstate test"], tmp_path)
    assert (out.strip(), rc) == ("running", 0)


TCP_BATCHES = [
    "uri; list --all; dominfo test; net-list --all; pool-list --all --details",
    "define {dom}; start vk1; list --all; suspend vk1; domstate vk1 --reason; resume vk1; "
    "destroy vk1; undefine vk1; list --all",
    "dominfo nope; start test; define {bad}",
]


@pytest.mark.parametrize("batch", TCP_BATCHES, ids=["read", "lifecycle", "errors"])
def test_tcp_same_as_local_virsh(batch: str, virtkitd: Daemon, tmp_path: Path) -> None:
    compat._write_files(tmp_path)
    batch = batch.format(dom=tmp_path / "dom.xml", bad=tmp_path / "bad.xml")
    uri = virtkitd.uri("tcp")
    want = _virsh(["-c", LOCAL, batch], tmp_path)
    got = _virsh(["-c", uri, batch], tmp_path)
    _same(want, got, uri, batch)


# ---------------------------------------------------------------- events

ACTIONS = ("destroy test; start test; suspend test; resume test; "
           "define {dom}; start vk1; destroy vk1; undefine vk1")
EVENT_TIMEOUT = 3


def _event_run(daemon: Daemon, cmd: str, tmp_path: Path, out: dict[str, str]) -> None:
    """``virsh event ... --timeout`` on one connection while another virsh makes events."""
    uri = daemon.uri("unix")
    watcher = subprocess.Popen([VIRSH, "-c", uri, cmd], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.0)  # let it register before anything happens
        act = subprocess.run([VIRSH, "-c", uri, ACTIONS.format(dom=tmp_path / "dom.xml")],
                             capture_output=True, text=True, timeout=30, check=False)
        text, _ = watcher.communicate(timeout=EVENT_TIMEOUT + 20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    out["events"] = text
    out["actions"] = act.stdout + act.stderr + f"rc={act.returncode}"


@pytest.mark.slow
def test_event_loop_same_as_libvirtd(tmp_path: Path) -> None:
    """Lifecycle events print exactly as they do against Debian's libvirtd."""
    compat._write_files(tmp_path)
    cmd = f"event --all --loop --timeout {EVENT_TIMEOUT}"
    results: dict[str, dict[str, str]] = {"virtkitd": {}, "libvirtd": {}}
    with start_virtkitd(tmp_path / "vk") as vk, start_libvirtd(tmp_path / "lv") as lv:
        threads = [threading.Thread(target=_event_run, args=(d, cmd, tmp_path, results[d.kind]))
                   for d in (vk, lv)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert vk.proc.poll() is None, vk.log_text()
    ours, theirs = results["virtkitd"], results["libvirtd"]
    assert theirs["actions"].endswith("rc=0"), theirs
    assert ours["actions"] == theirs["actions"]
    assert "event 'lifecycle' for domain 'test': Stopped Destroyed" in theirs["events"]
    assert "event 'lifecycle' for domain 'vk1': Undefined Removed" in theirs["events"]
    assert ours["events"] == theirs["events"]
