"""The daemon's side of opening a driver, kept apart so that the CLI's start-up (which
goes through the driver registry) imports nothing more."""

from __future__ import annotations

__all__ = ["OpenContext"]


class OpenContext:
    """The daemon's side of an open: ``root`` is the root of its system drivers (``/`` in
    production; libvirt's ``root`` argument of ``stateInitialize``). A plain class: the
    CLI's start-up imports this module, and dataclasses costs it milliseconds."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpenContext) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"OpenContext(root={self.root!r})"
