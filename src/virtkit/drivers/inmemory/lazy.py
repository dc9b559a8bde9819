"""Modules loaded on first attribute access.

The test driver's XML-heavy dependencies (the domain model, lxml) cost tens of
milliseconds to import; a ``test:///default`` connection that only lists
objects never needs them, so the driver's modules bind them lazily. A small
proxy does this rather than ``importlib.util.LazyLoader``, whose import alone
costs a CLI process several milliseconds.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        # Later reads find the attributes here directly.
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module object that is imported when an attribute is first read."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    return _LazyModule(name)
