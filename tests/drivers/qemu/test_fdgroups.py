"""The node's descriptor groups (virDomainFDAssociate): kept with the domain, replaced by
name, dropped with the connection that associated them or with the domain object."""

from __future__ import annotations

import os
from typing import Any

import pytest

from virtkit.constants import DomainFDAssociateFlags
from virtkit.drivers.qemu import diskfds
from virtkit.drivers.qemu.defs import parse_def
from virtkit.drivers.qemu.fdgroups import FDGroups
from virtkit.errors import ErrorCode, VirtError


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_groups_by_domain_and_owner() -> None:
    groups = FDGroups()
    r, w = os.pipe()
    a, b = object(), object()
    try:
        groups.associate("u1", "g", [r], 0, a)
        groups.associate("u1", "h", [w], int(DomainFDAssociateFlags.WRITABLE), b)
        groups.associate("u2", "g", [r, w], 0, a)
        g, h = groups.get("u1", "g"), groups.get("u1", "h")
        assert g is not None and h is not None and h.writable and not g.writable
        old = g.fds[0]
        groups.associate("u1", "g", [w], 0, b)  # same name: replaces, closes the old copy
        assert not _is_open(old)
        groups.close(a)  # a's remaining group (u2/g) goes; b's stay
        assert groups.get("u2", "g") is None and groups.get("u1", "g") is not None
        groups.drop_domain("u1")
        assert groups.get("u1", "g") is None and groups.get("u1", "h") is None
        assert _is_open(r) and _is_open(w)  # the caller's own descriptors are untouched
    finally:
        groups.close()
        os.close(r)
        os.close(w)


def _disks(*groups: str | None) -> list[Any]:
    """File disks vda, vdb ... with ``<source fdgroup>`` (None: a plain file)."""
    xml = "".join(
        f"<disk type='file' device='disk'><source file='/nonexistent/{i}.img'"
        + (f" fdgroup='{g}'" if g else "") + f"/><target dev='vd{chr(97 + i)}'/></disk>"
        for i, g in enumerate(groups))
    d = parse_def("<domain type='qemu'><name>t</name><memory unit='MiB'>64</memory>"
                  f"<os><type arch='x86_64'>hvm</type></os><devices>{xml}</devices></domain>")
    assert d.devices is not None
    return list(d.devices.disks)


def test_disk_fd_sets_are_copies() -> None:
    groups = FDGroups()
    r, w = os.pipe()
    try:
        groups.associate("u", "g", [r, w], 0)
        sets = diskfds.prepare(_disks("g", None), groups, "u")
        assert list(sets) == ["vda"]
        fdset = sets["vda"]
        assert fdset.set_id == 0 and len(fdset.fds) == 2 and fdset.path == "/dev/fdset/0"
        assert set(fdset.fds).isdisjoint({r, w})
        diskfds.close(sets.values())
        assert not any(_is_open(fd) for fd in fdset.fds)
        with pytest.raises(VirtError) as exc:
            diskfds.prepare(_disks("other"), groups, "u")
        assert exc.value.code == ErrorCode.INVALID_ARG
        assert diskfds.PLACEHOLDER.path == "/dev/fdset/monitor-fake"
    finally:
        groups.close()
        os.close(r)
        os.close(w)

