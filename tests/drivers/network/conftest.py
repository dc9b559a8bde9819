"""Fixtures for the network driver tests: a driver namespace with its root, client namespaces.

Everything runs in namespaces the tests create (bridges, nftables, dnsmasq); at teardown
every process left in them is killed and the namespaces are deleted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator

import pytest
from netns_util import DriverNS, NetNS


@pytest.fixture
def hostns() -> Iterator[DriverNS]:
    """The driver's namespace and root (under /tmp, 0755: dnsmasq runs unprivileged)."""
    root = tempfile.mkdtemp(prefix="vkt-net-")
    ns = DriverNS(root)
    try:
        yield ns
    finally:
        ns.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_ns() -> Iterator[Callable[[], NetNS]]:
    """A factory of extra namespaces (guests, the outside world), deleted at teardown."""
    made: list[NetNS] = []

    def make() -> NetNS:
        ns = NetNS("vkc")
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            ns.close()
