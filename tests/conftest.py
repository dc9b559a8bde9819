"""Suite-wide options: ``--unit`` (``make check``) selects the tests that start no VM,
no daemon and no peer tool, and fails any of them that tries to."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A test module that names one of these starts real processes (daemons, guests, peers,
# namespaces, tools): it is a system test, left to `make test`.
_SYSTEM_MODULE = re.compile(
    r"\bsubprocess\b|start_virtkitd|start_libvirtd|qemu_e2e|qemu_daemon|\bDaemon\(|test_guest"
    r"|netns|\bvirsh\b|/usr/bin/python3|\bpeers\b|qemu:///embed")

# What a unit test may never start (checked while `--unit` runs).
_PROCESSES = frozenset({
    "qemu-system-x86_64", "qemu-img", "virtkitd", "libvirtd", "virsh", "virt-install",
    "dnsmasq", "nft", "ip", "unshare", "sshd", "ssh", "python3", "lvm", "mount"})


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the random order's seed even under -q (CI runs the suite in random order:
    pytest-randomly); ``--randomly-seed=N`` repeats an order, ``-p no:randomly`` turns it off."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(f"test order: random; repeat it with --randomly-seed={seed}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--unit", action="store_true",
                     help="only the tests that start no VM, daemon or peer tool (make check)")


@functools.cache
def _is_system_module(path: Path) -> bool:
    try:
        return bool(_SYSTEM_MODULE.search(path.read_text()))
    except OSError:
        return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--unit"):
        return
    keep, drop = [], []
    for item in items:
        system = (any(item.get_closest_marker(m) for m in ("slow", "interop", "system"))
                  or _is_system_module(Path(str(item.fspath))))
        (drop if system else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _unit_starts_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under ``--unit``, starting a real part fails the test: mark it slow or move it."""
    if not request.config.getoption("--unit"):
        yield
        return
    real_init = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *a: Any, **kw: Any) -> None:
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        name = os.path.basename(os.fsdecode(argv[0]).split()[0]) if argv else ""
        if name in _PROCESSES:
            raise AssertionError(f"a unit test (make check) started {name!r}: it belongs to "
                                 "make test (mark it slow, or name subprocess in its module)")
        real_init(self, args, *a, **kw)

    subprocess.Popen.__init__ = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = real_init  # type: ignore[method-assign]
