"""Fixtures of the behaviour oracle: both daemons for the session, a :class:`Case` per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oracle_harness import PEERS, REPO, Case, Peer, session_peers

sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
import qemu_e2e


@pytest.fixture(scope="session")
def peers() -> Iterator[dict[str, Peer]]:
    """libvirtd (QEMU, network, storage drivers) and virtkitd, each in its own netns."""
    with session_peers() as both:
        yield both


@pytest.fixture
def oracle(request: pytest.FixtureRequest, tmp_path: Path, peers: dict[str, Peer]
           ) -> Iterator[Case]:
    """This test's comparison, with a directory per peer under ``tmp_path``."""
    dirs = {}
    for p in PEERS:
        dirs[p] = tmp_path / p
        dirs[p].mkdir()
    case = Case(request.node.name, peers, dirs)
    yield case
    if case.cleanup:
        case.run(case.cleanup)


@pytest.fixture(scope="session")
def guest() -> Any:
    """The test guest (scripts/test_guest.py), built once; boots by direct kernel boot."""
    return qemu_e2e.tg.ensure_guest()
