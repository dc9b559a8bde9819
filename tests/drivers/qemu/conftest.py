"""Fixtures for the end-to-end QEMU driver tests (helpers: qemu_e2e.py).

Every guest runs under TCG (``type='qemu'``; never /dev/kvm). Each test gets its own short root
under /tmp; at teardown every domain of that root is destroyed, and a QEMU still naming the root on
its command line fails the test (after being killed by pid).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qemu_e2e import QemuRoot, tg


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
