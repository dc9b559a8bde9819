"""Fixtures for the handle tests: a fresh test:///default connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import virtkit
from virtkit.connection import Connection


@pytest.fixture
def conn() -> Iterator[Connection]:
    with virtkit.open("test:///default") as c:
        yield c
