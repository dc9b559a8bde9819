"""Helpers of the storage driver tests (XML of pools and volumes).

A module of its own: ``from conftest import`` finds whichever conftest was
imported first when several test directories run together.
"""

from __future__ import annotations

import os

__all__ = ["dir_pool_xml", "vol_xml"]


def dir_pool_xml(name: str, path: str | os.PathLike[str], mode: str | None = None) -> str:
    perms = f"<permissions><mode>{mode}</mode></permissions>" if mode else ""
    return (f"<pool type='dir'><name>{name}</name>"
            f"<target><path>{path}</path>{perms}</target></pool>")


def vol_xml(name: str, capacity: int, fmt: str = "raw", allocation: int | None = None,
            backing: str | None = None, backing_fmt: str | None = None) -> str:
    alloc = f"<allocation>{allocation}</allocation>" if allocation is not None else ""
    bs = ""
    if backing:
        bf = f"<format type='{backing_fmt}'/>" if backing_fmt else ""
        bs = f"<backingStore><path>{backing}</path>{bf}</backingStore>"
    return (f"<volume><name>{name}</name><capacity>{capacity}</capacity>{alloc}"
            f"<target><format type='{fmt}'/></target>{bs}</volume>")
