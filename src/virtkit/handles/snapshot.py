"""The Snapshot handle: a domain snapshot's identity plus its connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import SnapshotIdent

if TYPE_CHECKING:
    from virtkit.handles.domain import Domain

__all__ = ["Snapshot"]

_S = ErrorDomain.DOMAIN_SNAPSHOT


class Snapshot(Handle[SnapshotIdent]):
    """A domain snapshot (virDomainSnapshotPtr)."""

    __slots__ = ()

    @property
    def domain(self) -> Domain:
        """The domain the snapshot belongs to."""
        from virtkit.handles.domain import Domain

        return Domain(self._conn, self._ident.domain)

    def __repr__(self) -> str:
        return f"<Snapshot {self._ident.name!r} of {self._ident.domain.name!r}>"

    def _key(self) -> object:
        return (self._ident.domain.uuid, self._ident.name)

    def xml(self, flags: int = 0) -> str:
        """virDomainSnapshotGetXMLDesc (flags: DomainSnapshotXMLFlags)."""
        return self._conn._hv.domain_snapshot_get_xml_desc(self._ident, flags)

    def parent(self) -> Snapshot:
        """virDomainSnapshotGetParent (VIR_ERR_NO_DOMAIN_SNAPSHOT for a root)."""
        return Snapshot(self._conn, self._conn._hv.domain_snapshot_get_parent(self._ident, 0))

    def children(self, flags: int = 0) -> list[Snapshot]:
        """virDomainSnapshotListAllChildren (flags: DomainSnapshotListFlags)."""
        conn = self._conn
        return [
            Snapshot(conn, s)
            for s in conn._hv.domain_snapshot_list_all_children(self._ident, flags)
        ]

    def num_children(self, flags: int = 0) -> int:
        """virDomainSnapshotNumChildren."""
        return self._conn._hv.domain_snapshot_num_children(self._ident, flags)

    def is_current(self) -> bool:
        """virDomainSnapshotIsCurrent."""
        return self._conn._hv.domain_snapshot_is_current(self._ident, 0)

    def has_metadata(self) -> bool:
        """virDomainSnapshotHasMetadata."""
        return self._conn._hv.domain_snapshot_has_metadata(self._ident, 0)

    def revert(self, flags: int = 0) -> None:
        """virDomainRevertToSnapshot (flags: DomainSnapshotRevertFlags)."""
        self._conn._check_write("virDomainRevertToSnapshot", _S)
        self._conn._hv.domain_revert_to_snapshot(self._ident, flags)

    def delete(self, flags: int = 0) -> None:
        """virDomainSnapshotDelete (flags: DomainSnapshotDeleteFlags)."""
        self._conn._check_write("virDomainSnapshotDelete", _S)
        self._conn._hv.domain_snapshot_delete(self._ident, flags)
