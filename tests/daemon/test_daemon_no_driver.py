"""A URI the daemon has no driver for (issue 13, item 8).

``virsh -c 'lxc+unix:///system?socket=S'`` sends ``lxc:///system`` to the
daemon at S.  libvirtd answers VIR_ERR_NO_CONNECT "no connection driver
available for lxc:///system"; virtkitd must answer the same, never hand the
URI to its remote driver (which would open the system daemon's socket).
Checked with Debian's virsh and libvirt-python against both daemons."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.testing.peers import Daemon, libvirtd_available, start_libvirtd, start_virtkitd

pytestmark = pytest.mark.timeout(120)

PYTHON3 = "/usr/bin/python3"
DRIVERS = ("lxc", "xen", "vbox")

_PROBE = """
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
try:
    libvirt.open(sys.argv[1])
    print(json.dumps(None))
except libvirt.libvirtError as e:
    print(json.dumps([e.get_error_code(), e.get_error_domain(), e.get_error_message()]))
"""


@pytest.fixture(scope="module", params=["virtkitd", "libvirtd"])
def daemon(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if request.param == "libvirtd" and not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    start = start_virtkitd if request.param == "virtkitd" else start_libvirtd
    with start(tmp_path_factory.mktemp(request.param)) as d:
        yield d


def _uri(daemon: Daemon, driver: str, ro: bool = False) -> str:
    return f"{driver}+unix:///system?socket={daemon.sock_ro if ro else daemon.sock}"


def _expected(driver: str) -> str:
    return f"no connection driver available for {driver}:///system"


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("ro", [False, True], ids=["rw", "ro"])
def test_libvirt_python_gets_no_connect(daemon: Daemon, driver: str, ro: bool) -> None:
    out = subprocess.run([PYTHON3, "-c", _PROBE, _uri(daemon, driver, ro)],
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [ErrorCode.NO_CONNECT, ErrorDomain.NONE,
                                      _expected(driver)]


def test_virsh_define_goes_nowhere(daemon: Daemon, tmp_path: Path) -> None:
    """The reported case: ``virsh define`` through the daemon fails with libvirt's words."""
    xml = tmp_path / "c.xml"
    xml.write_text("<domain type='lxc'><name>c1</name><memory>65536</memory>"
                   "<os><type>exe</type><init>/bin/sh</init></os></domain>")
    r = subprocess.run(["virsh", "-c", _uri(daemon, "lxc"), "define", str(xml)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert _expected("lxc") in r.stderr
    assert "libvirt-sock" not in r.stderr


def test_virtkit_client_gets_no_connect(daemon: Daemon) -> None:
    with pytest.raises(virtkit.VirtError) as info:
        virtkit.open(_uri(daemon, "lxc"))
    assert info.value.code == ErrorCode.NO_CONNECT
    assert _expected("lxc") in str(info.value)


def test_known_driver_still_opens(daemon: Daemon) -> None:
    with virtkit.open(daemon.uri("unix")) as conn:
        assert conn.hostname
