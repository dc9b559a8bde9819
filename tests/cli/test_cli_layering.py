"""The CLI stands on the library: Connection and handles, never the driver tables.

Every module under ``src/virtkit/cli`` is parsed; an import of ``virtkit.drivers`` (or
anything under it), an attribute access ``.tables``, or one of the connection's and
handles' private driver links (``._hv``, ``._ident`` ...) is a layering violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import virtkit

CLI_DIR = Path(virtkit.__file__).parent / "cli"
FORBIDDEN_PACKAGE = "virtkit.drivers"
# the driver tables, and the private links through which handles reach them
FORBIDDEN_ATTRS = frozenset({"tables", "_tables", "_hv", "_net", "_storage", "_ident"})


def violations(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: what`` for each reach past the library in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from virtkit import drivers`` names the package as ``virtkit.drivers``
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for mod in modules:
            if mod == FORBIDDEN_PACKAGE or mod.startswith(FORBIDDEN_PACKAGE + "."):
                found.append(f"{filename}:{getattr(node, 'lineno', 0)}: imports {mod}")
                break
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRS:
            found.append(f"{filename}:{node.lineno}: uses .{node.attr}")
    return found


def test_the_checker_catches_each_kind_of_violation() -> None:
    bad = (
        "import virtkit.drivers.base\n"
        "from virtkit.drivers.inmemory.tuning import format_bitmap\n"
        "from virtkit import drivers\n"
        "def f(ctl, dom):\n"
        "    dom._conn._hv.domain_get_messages(dom._ident, 0)\n"
        "    return ctl.conn.tables.nwfilter\n"
    )
    assert sorted(v.split(": ", 1)[1] for v in violations(bad)) == [
        "imports virtkit.drivers",
        "imports virtkit.drivers.base",
        "imports virtkit.drivers.inmemory.tuning",
        "uses ._hv",
        "uses ._ident",
        "uses .tables",
    ]


def test_the_checker_passes_library_use() -> None:
    good = (
        "from virtkit.bitmap import format_bitmap\n"
        "from virtkit.handles import NWFilter\n"
        "import virtkit.driversx\n"  # a name that only starts alike
        "def f(ctl):\n"
        "    tables = 1\n"
        "    return ctl.conn.lookup_nwfilter('x'), tables\n"
    )
    assert violations(good) == []


def _cli_modules() -> list[Path]:
    return sorted(CLI_DIR.rglob("*.py"))


def test_there_are_cli_modules_to_check() -> None:
    names = {p.name for p in _cli_modules()}
    assert {"nwfilter.py", "interface.py", "nodedev.py", "domtuning.py"} <= names


@pytest.mark.parametrize("path", _cli_modules(), ids=lambda p: p.name)
def test_cli_module_uses_only_the_library(path: Path) -> None:
    assert violations(path.read_text(), str(path.relative_to(CLI_DIR.parent))) == []
