"""Fixtures for the end-to-end QEMU driver tests (helpers: qemu_e2e.py).

Every guest runs under TCG (``type='qemu'``; never /dev/kvm). Each test gets its own short root
under /tmp; at teardown every domain of that root is destroyed, and a QEMU still naming the root on
its command line fails the test (after being killed by pid).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, tg

import virtkit
from virtkit.testing.peers import Daemon, start_virtkitd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from netns_util import NetNS


@pytest.fixture(scope="session")
def guest() -> Any:
    """The built test guest (kernel, initrd, disk templates, markers)."""
    return tg.ensure_guest()


@pytest.fixture
def qroot() -> Iterator[QemuRoot]:
    """A fresh root; at teardown its domains are destroyed and no QEMU may remain."""
    root = QemuRoot()
    try:
        yield root
    finally:
        left = root.cleanup()
    assert not left, f"QEMU processes left running under {root.path}: {left}"


@pytest.fixture
def conn(qroot: QemuRoot) -> Any:
    """An embedded connection to ``qroot``."""
    return qroot.open()


@pytest.fixture
def netns() -> Iterator[str]:
    """A private network namespace (lo up) for the test; at teardown whatever still runs
    in it (a dnsmasq after a failure) is killed and it is deleted."""
    ns = NetNS("vkq")
    try:
        yield ns.name
    finally:
        ns.close()


@pytest.fixture
def netns2() -> Iterator[str]:
    """A second namespace, for a peer daemon beside the one in ``netns``."""
    ns = NetNS("vkq2")
    try:
        yield ns.name
    finally:
        ns.close()


@pytest.fixture
def daemon(qroot: QemuRoot) -> Iterator[Daemon]:
    """A virtkitd on ``qroot`` (its unix sockets); its guests are destroyed before it stops."""
    d = start_virtkitd(qroot.path / "daemon")
    try:
        yield d
    finally:
        with contextlib.suppress(Exception), virtkit.open(d.uri("unix", "/system", "qemu")) as c:
            for dom in c.list_domains():
                with contextlib.suppress(Exception):
                    dom.destroy()
        d.stop()
