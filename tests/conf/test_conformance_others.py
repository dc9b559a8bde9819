"""Conformance of the network, pool, volume, snapshot and capabilities models
against libvirt 9.0.0's own XML test data (../shared/conformance/libvirt-xml).

- ``in`` files: parse -> format -> parse must keep every fact of the input
  (facts are (element path, attribute or #text, value)), after the
  canonicalisations libvirt itself applies (listed per format below), and a
  second cycle must give the same bytes. Files libvirt refuses to parse may
  raise VirtError instead.
- ``out`` files (written by libvirt): parse -> format must give the same bytes.

Writes a report to /tmp/conformance-others.txt and asserts >= 95 % per format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from virtkit.conf.capabilities import CapabilitiesDef
from virtkit.conf.network import NetworkDef, validate_network_def
from virtkit.conf.snapshot import DomainSnapshotDef, validate_snapshot_def
from virtkit.conf.storage_pool import StoragePoolDef, sanitize_path, validate_storage_pool_def
from virtkit.conf.storage_vol import StorageVolDef, validate_storage_vol_def
from virtkit.conf.units import scale_integer
from virtkit.conf.xmlutil import qualified_name
from virtkit.errors import VirtError
from virtkit.testing.repo import conformance_dir

CONFORMANCE = conformance_dir()

# libvirt's networkxml2xmltest DO_TEST_PARSE_ERROR cases (and schema "invalid" files).
PARSE_ERRORS = {
    "network": {"routed-network-no-dns-extra-elements", "hostdev-duplicate",
                "passthrough-duplicate"},
    "pool": {"storagepoolschemadata__dir-missing-target-path-invalid"},
}

Fact = tuple[str, str, str]
Canon = Callable[[Any, str, str, str], Fact | None]


def _facts(xml: str, canon: Canon | None = None) -> set[Fact]:
    root = etree.fromstring(xml.encode())
    out: set[Fact] = set()

    def walk(el: Any, parent: str) -> None:
        if not isinstance(el.tag, str):
            return
        path = f"{parent}/{qualified_name(el)}"
        items: list[tuple[str, str]] = [
            ("@" + qualified_name(el, str(k)), str(v)) for k, v in el.attrib.items()
        ]
        if el.text and el.text.strip():
            items.append(("#text", el.text.strip()))
        items.append(("", ""))  # the element's presence
        for key, value in items:
            fact: Fact | None = (path, key, value)
            if canon is not None:
                fact = canon(el, path, key, value)
            if fact is not None:
                out.add(fact)
        for c in el:
            walk(c, path)

    walk(root, "")
    return out


# ----------------------------------------------------------------------------- canonicalisations


def _sized(el: Any, value: str) -> str:
    try:
        return str(scale_integer(int(value), el.get("unit")))
    except (ValueError, VirtError):
        return value


def _perm(el: Any, path: str, key: str, value: str) -> Fact | None:
    leaf = path.rsplit("/", 1)[-1]
    if key != "#text":
        if leaf in ("owner", "group") and (el.text or "").strip() in ("-1", "4294967295"):
            return None  # an unset owner/group is not written
        return (path, key, value)
    if leaf == "mode":
        return (path, key, f"0{int(value, 8):o}")
    if leaf in ("owner", "group"):
        num = int(value, 10)
        return None if num in (-1, 2**32 - 1) else (path, key, str(num))
    return (path, key, value)


def canon_network(el: Any, path: str, key: str, value: str) -> Fact | None:
    if path == "/network" and key == "@ipv6" and value == "no":
        return None  # libvirt writes ipv6 only when 'yes'
    if key in ("@address", "@mac") and path.endswith(("/mac", "/host")):
        return (path, key, value.lower())  # MAC addresses are written lowercase
    if path == "/network/forward" and key == "" and el.get("mode") is None:
        return (path, "@mode", "nat")  # <forward/> means mode='nat'
    return (path, key, value)


def canon_pool(el: Any, path: str, key: str, value: str) -> Fact | None:
    leaf = path.rsplit("/", 1)[-1]
    if leaf in ("capacity", "allocation", "available") and path.count("/") == 2:
        # libvirt does not read these back; it writes them in bytes
        return None
    if leaf == "freeExtent":
        return None  # output-only, not read by libvirt
    if "/permissions/" in path:
        return _perm(el, path, key, value)
    if path == "/pool/target/path" and el.getroottree().getroot().get("type") in (
        "logical", "zfs"
    ):
        return None  # libvirt derives it from the source name (/dev/NAME, /dev/zvol/NAME)
    if path.endswith("/target/path") or (path.endswith("/source/dir") and key == "@path"):
        return (path, key, sanitize_path(value))
    if path.endswith("/source/adapter") and key == "":
        return None
    return (path, key, value)


def canon_volume(el: Any, path: str, key: str, value: str) -> Fact | None:
    leaf = path.rsplit("/", 1)[-1]
    if leaf in ("capacity", "allocation", "physical", "clusterSize"):
        if key == "@unit":
            return None
        if key == "#text":
            return (path, key, _sized(el, value))
    if "/permissions/" in path:
        return _perm(el, path, key, value)
    if path == "/volume/source" and key == "":
        return None  # an empty <source/> is not written
    if path == "/volume/target/nocow":
        return None  # libvirt reads <nocow/> but does not write it back
    return (path, key, value)


def canon_snapshot(el: Any, path: str, key: str, value: str) -> Fact | None:
    if path.endswith("/disk/driver") and key == "":
        return None  # an empty <driver/> is not written
    return (path, key, value)


def canon_none(el: Any, path: str, key: str, value: str) -> Fact | None:
    return (path, key, value)


# ----------------------------------------------------------------------------- the runs


def _parse_network(xml: str) -> NetworkDef:
    d = NetworkDef.from_xml(xml)
    validate_network_def(d)
    return d


def _parse_pool(xml: str) -> StoragePoolDef:
    d = StoragePoolDef.from_xml(xml)
    validate_storage_pool_def(d)
    return d


def _parse_volume(xml: str) -> StorageVolDef:
    d = StorageVolDef.from_xml(xml)
    validate_storage_vol_def(d)
    return d


def _parse_snapshot(xml: str) -> DomainSnapshotDef:
    d = DomainSnapshotDef.from_xml(xml)
    validate_snapshot_def(d)
    return d


FORMATS: dict[str, tuple[Callable[[str], Any], Canon]] = {
    "network": (_parse_network, canon_network),
    "pool": (_parse_pool, canon_pool),
    "volume": (_parse_volume, canon_volume),
    "snapshot": (_parse_snapshot, canon_snapshot),
    "capabilities": (CapabilitiesDef.from_xml, canon_none),
}


def _check_in(fmt: str, path: Path) -> str | None:
    """None when the file passes, else the reason."""
    parse, canon = FORMATS[fmt]
    text = path.read_text()
    try:
        first = parse(text).to_xml()
    except VirtError as exc:
        if path.stem in PARSE_ERRORS.get(fmt, set()):
            return None
        return f"parse error: {exc}"
    if path.stem in PARSE_ERRORS.get(fmt, set()):
        return "libvirt refuses this file but it parsed"
    second = parse(first).to_xml()
    if second != first:
        return "not stable under a second parse/format cycle"
    want = _facts(text, canon)
    got = _facts(first, canon_none)
    lost = sorted(want - got)
    if lost:
        return "lost facts: " + "; ".join(f"{p} {k}={v!r}" for p, k, v in lost[:5])
    return None


def _check_out(fmt: str, path: Path) -> str | None:
    parse, _ = FORMATS[fmt]
    text = path.read_text()
    try:
        got = parse(text).to_xml()
    except VirtError as exc:
        return f"parse error: {exc}"
    if got != text:
        for i, (a, b) in enumerate(zip(text.splitlines(), got.splitlines(), strict=False)):
            if a != b:
                return f"line {i + 1}: want {a.strip()!r} got {b.strip()!r}"
        return "output differs in length"
    return None


def _files(fmt: str) -> list[tuple[str, Path]]:
    base = CONFORMANCE / fmt
    found: list[tuple[str, Path]] = []
    for kind in ("in", "out", "inout"):
        for p in sorted((base / kind).glob("*.xml")):
            found.append((kind, p))
    return found


def run_all() -> dict[str, tuple[int, int, list[str]]]:
    """Check every file; per format (passed, total, failure lines)."""
    results: dict[str, tuple[int, int, list[str]]] = {}
    for fmt in FORMATS:
        passed = 0
        failures: list[str] = []
        files = _files(fmt)
        for kind, path in files:
            reasons: list[str | None] = []
            if kind in ("in", "inout"):
                reasons.append(_check_in(fmt, path))
            if kind in ("out", "inout"):
                reasons.append(_check_out(fmt, path))
            bad = [r for r in reasons if r]
            if bad:
                failures.append(f"{fmt}/{kind}/{path.name}: {'; '.join(bad)}")
            else:
                passed += 1
        results[fmt] = (passed, len(files), failures)
    return results


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[int, int, list[str]]]:
    if not CONFORMANCE.is_dir():
        raise AssertionError(f"conformance data not found at {CONFORMANCE}")
    res = run_all()
    lines = []
    for fmt, (passed, total, failures) in res.items():
        rate = 100.0 * passed / total if total else 0.0
        lines.append(f"{fmt}: {passed}/{total} ({rate:.1f} %)")
        lines.extend("  FAIL " + f for f in failures)
    report = "\n".join(lines) + "\n"
    print(report)
    return res


# Files of shared/conformance per format, all of which pass today: a file that stops
# passing, or goes missing, fails the test.
EXPECTED_PASSES = {"network": 73, "pool": 68, "volume": 40, "snapshot": 22, "capabilities": 3}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_conformance_counts(fmt: str, results: dict[str, tuple[int, int, list[str]]]) -> None:
    passed, total, failures = results[fmt]
    want = EXPECTED_PASSES[fmt]
    assert (passed, total) == (want, want), "\n".join(failures) or f"{total} files, not {want}"


def test_facts_detect_loss() -> None:
    """The fact comparison itself notices a dropped attribute."""
    a = _facts("<network><bridge name='x' stp='on'/></network>")
    b = _facts("<network><bridge name='x'/></network>")
    assert a - b == {("/network/bridge", "@stp", "on")}


def test_parse_error_files_raise() -> None:
    for name in sorted(PARSE_ERRORS["network"]):
        path = CONFORMANCE / "network" / "in" / f"{name}.xml"
        with pytest.raises(VirtError):
            _parse_network(path.read_text())



