"""Fixtures for the handle tests: a fresh test:///default connection, and the peers the
NWFilter and Secret handles are walked against (Debian's libvirtd 9.0 with its secret
and nwfilter drivers, in a network namespace of its own; virtkitd)."""

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
from virtkit.connection import Connection
from virtkit.testing.peers import Daemon, libvirtd_available, start_virtkitd

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def conn() -> Iterator[Connection]:
    with virtkit.open("test:///default") as c:
        yield c


@pytest.fixture(scope="session")
def libvirtd_uri() -> Iterator[str]:
    """qemu:///system of libvirtd 9.0 (QEMU, secret and nwfilter drivers) in a private
    network namespace, so filter bindings never touch this host's firewall."""
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    ns = f"vk-h-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    root = Path(tempfile.mkdtemp(prefix="vk-handles-lv-"))
    try:
        lv = qemu_peers.start_libvirtd_qemu(root, extra_modules=("secret", "nwfilter"),
                                            netns=ns)
        try:
            yield lv.uri
        finally:
            lv.stop()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def virtkitd() -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="vk-handles-vk-"))
    daemon = start_virtkitd(root)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
