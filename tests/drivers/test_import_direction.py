"""Import direction: no driver package imports another driver package's modules.

Drivers link to each other only through ``drivers/compose.py`` (the module that
puts the drivers of one root together for a ``qemu://`` connection) and the
driver-neutral modules in ``drivers/`` (``persist``, ``domain_nwfilter``,
``state``, ``base``, ...). ``drivers/qemu`` is imported only by the QEMU driver
itself and its opener (``registry`` -> ``compose``). Lazy imports inside
functions and ``lazy_module("...")``/``import_module("...")`` with a literal
name count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
DRIVERS = SRC / "virtkit" / "drivers"
PACKAGES = sorted(p.name for p in DRIVERS.iterdir() if (p / "__init__.py").is_file())
QEMU_OPENERS = {"virtkit.drivers.registry", "virtkit.drivers.compose"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, from-imports expanded
    to ``module.name`` so that ``from virtkit.drivers import qemu`` is seen."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None))
              in ("lazy_module", "import_module")):
            yield node.lineno, node.args[0].value


def _driver_package(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["virtkit", "drivers"] and parts[2] in PACKAGES:
        return parts[2]
    return None


def test_the_scan_sees_driver_packages() -> None:
    assert {"network", "nwfilter", "qemu", "storage"} <= set(PACKAGES)
    sample = list(_imports(DRIVERS / "registry.py"))
    assert any(m == "virtkit.drivers.compose.open_connection" for _, m in sample)


def test_no_driver_imports_another_driver() -> None:
    bad = []
    for pkg in PACKAGES:
        for path in sorted((DRIVERS / pkg).rglob("*.py")):
            for line, module in _imports(path):
                other = _driver_package(module)
                if other is not None and other != pkg:
                    bad.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert bad == []


def test_only_the_qemu_driver_and_its_opener_import_it() -> None:
    bad = []
    for path in sorted((SRC / "virtkit").rglob("*.py")):
        name = _module_name(path)
        if _driver_package(name) == "qemu" or name in QEMU_OPENERS:
            continue
        for line, module in _imports(path):
            if _driver_package(module) == "qemu":
                bad.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert bad == []


def test_the_daemon_knows_no_driver_package() -> None:
    """virtkitd reaches drivers through drivers/state.py and the URI registry only."""
    bad = []
    for path in sorted((SRC / "virtkit" / "daemon").rglob("*.py")):
        for line, module in _imports(path):
            if _driver_package(module) is not None:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert bad == []
