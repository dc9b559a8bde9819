"""Fixtures: a storage driver over an embedded root in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_helpers import dir_pool_xml, vol_xml  # noqa: F401  (kept for old imports)

from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.drivers.storage.node import StorageNode
from virtkit.drivers.storage.paths import StoragePaths


@pytest.fixture
def paths(tmp_path: Path) -> StoragePaths:
    return StoragePaths.embed(str(tmp_path / "root"))


@pytest.fixture
def drv(paths: StoragePaths) -> Iterator[HostStorageDriver]:
    d = HostStorageDriver(StorageNode(paths))
    yield d
    d.close()
