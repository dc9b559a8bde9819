"""Descriptor groups a client associates with a domain (virDomainFDAssociate).

libvirt's QEMU driver keeps each group (copies of the client's descriptors) under
its name until the connection that associated it closes; a disk whose source
names the group (``<source fdgroup='NAME'/>``) would use them.  A later group of
the same name replaces the earlier one.
"""

from __future__ import annotations

import os
import threading

from virtkit.constants import DomainFDAssociateFlags
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.rpc.fdpass import close_fds

__all__ = ["FDGroup", "FDGroups"]

_FLAGS = int(DomainFDAssociateFlags.RESTORE | DomainFDAssociateFlags.WRITABLE)


class FDGroup:
    """One named group: the descriptors and libvirt's two label hints."""

    __slots__ = ("fds", "restore_label", "writable")

    def __init__(self, fds: list[int], flags: int) -> None:
        self.fds = fds
        self.writable = bool(flags & DomainFDAssociateFlags.WRITABLE)
        self.restore_label = bool(flags & DomainFDAssociateFlags.RESTORE)


class FDGroups:
    """The groups one connection associated, by (domain UUID, name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], FDGroup] = {}

    def associate(self, uuid: str, name: str, fds: list[int], flags: int) -> None:
        """Keep copies of ``fds`` as group ``name`` of domain ``uuid`` (qemuDomainFDAssociate)."""
        if flags & ~_FLAGS:
            raise invalid_flags(flags & ~_FLAGS, "qemuDomainFDAssociate", ErrorDomain.QEMU)
        if not fds:
            return
        copies: list[int] = []
        try:
            for i, fd in enumerate(fds):
                try:
                    copies.append(os.dup(fd))
                except OSError as e:
                    raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.QEMU,
                                     f"failed to duplicate passed fd with index '{i}': "
                                     f"{e.strerror}") from None
        except BaseException:
            close_fds(copies)
            raise
        with self._lock:
            old = self._groups.pop((uuid, name), None)
            self._groups[(uuid, name)] = FDGroup(copies, flags)
        if old is not None:
            close_fds(old.fds)

    def get(self, uuid: str, name: str) -> FDGroup | None:
        with self._lock:
            return self._groups.get((uuid, name))

    def close(self) -> None:
        """The connection closed: drop every group (qemuDomainFDHashCloseConnect)."""
        with self._lock:
            groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            close_fds(group.fds)
