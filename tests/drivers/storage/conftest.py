"""Fixtures: a storage driver over an embedded root in a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.drivers.storage.node import StorageNode
from virtkit.drivers.storage.paths import StoragePaths


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


@pytest.fixture
def paths(tmp_path: Path) -> StoragePaths:
    return StoragePaths.embed(str(tmp_path / "root"))


@pytest.fixture
def drv(paths: StoragePaths) -> Iterator[HostStorageDriver]:
    d = HostStorageDriver(StorageNode(paths))
    yield d
    d.close()
