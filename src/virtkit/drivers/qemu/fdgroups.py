"""Descriptor groups a client associates with a domain (virDomainFDAssociate).

libvirt's QEMU driver keeps each group (copies of the client's descriptors) with
the domain, under its name, until the connection that associated it closes
(qemuDomainFDHashCloseConnect); a disk whose source names the group
(``<source fdgroup='NAME'/>``, see diskfds.py) gets copies of them when the domain
starts, from whichever connection starts it.  A later group of the same name
replaces the earlier one.  The node holds one ``FDGroups`` for all its connections.
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

    __slots__ = ("fds", "owner", "restore_label", "writable")

    def __init__(self, fds: list[int], flags: int, owner: object = None) -> None:
        self.fds = fds
        self.owner = owner  # the connection that associated it
        self.writable = bool(flags & DomainFDAssociateFlags.WRITABLE)
        self.restore_label = bool(flags & DomainFDAssociateFlags.RESTORE)


class FDGroups:
    """The associated groups, by (domain UUID, name), each with its connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], FDGroup] = {}

    def associate(self, uuid: str, name: str, fds: list[int], flags: int,
                  owner: object = None) -> None:
        """Keep copies of ``fds`` as group ``name`` of domain ``uuid`` for connection
        ``owner`` (qemuDomainFDAssociate)."""
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
            self._groups[(uuid, name)] = FDGroup(copies, flags, owner)
        if old is not None:
            close_fds(old.fds)

    def get(self, uuid: str, name: str) -> FDGroup | None:
        with self._lock:
            return self._groups.get((uuid, name))

    def close(self, owner: object = None) -> None:
        """Connection ``owner`` closed: drop its groups (qemuDomainFDHashCloseConnect);
        every group when ``owner`` is None."""
        with self._lock:
            gone = [k for k, g in self._groups.items() if owner is None or g.owner is owner]
            groups = [self._groups.pop(k) for k in gone]
        for group in groups:
            close_fds(group.fds)

    def drop_domain(self, uuid: str) -> None:
        """The domain object went away (undefined, transient and stopped): its groups go."""
        with self._lock:
            gone = [k for k in self._groups if k[0] == uuid]
            groups = [self._groups.pop(k) for k in gone]
        for group in groups:
            close_fds(group.fds)
