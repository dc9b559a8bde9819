"""What every handle is: an identity plus the connection it belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from virtkit.connection import Connection

__all__ = ["Handle"]

I = TypeVar("I")  # noqa: E741  (the identity type)


class Handle(Generic[I]):
    """Base of Domain, Network, StoragePool, StorageVolume and Snapshot.

    Two handles are equal when they are of the same class, belong to the same
    connection and name the same object (``_key``: the UUID unless a subclass
    says otherwise)."""

    __slots__ = ("_conn", "_ident")

    def __init__(self, conn: Connection, ident: I) -> None:
        self._conn = conn
        self._ident = ident

    @property
    def name(self) -> str:
        """The object's name."""
        return self._ident.name  # type: ignore[attr-defined,no-any-return]

    @property
    def ident(self) -> I:
        """The identity record the drivers take."""
        return self._ident

    @property
    def connection(self) -> Connection:
        """The connection this handle belongs to."""
        return self._conn

    def _key(self) -> Any:
        return self._ident.uuid  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Handle)
        return other._conn is self._conn and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())
