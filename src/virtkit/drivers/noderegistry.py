"""One shared node per root in a process, counted by the connections that use it.

The QEMU, network and storage drivers keep their state in a *node* per root (its
domains, networks or pools, their lock and event bus). Every connection to the same
root shares it; closing the last connection leaves it in place, because guests keep
running and networks stay up whether or not anyone is connected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["NodeRegistry"]


class _Counted(Protocol):
    refs: int


N = TypeVar("N", bound=_Counted)


class NodeRegistry(Generic[N]):
    """Nodes by key (a root or a paths object), created on first use."""

    def __init__(self) -> None:
        self._nodes: dict[Hashable, N] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable, create: Callable[[], N]) -> N:
        """The node for ``key`` (made by ``create`` the first time), one more reference."""
        with self._lock:
            node = self._nodes.get(key)
            if node is None:
                node = self._nodes[key] = create()
            node.refs += 1
            return node

    def loaded(self, key: Hashable) -> N | None:
        """The node for ``key`` if one was created (no reference taken, none created)."""
        with self._lock:
            return self._nodes.get(key)

    def release(self, node: N) -> None:
        """A connection closed; the node stays."""
        with self._lock:
            node.refs -= 1
