"""Domain XML conformance against libvirt 9.0's own test data.

(1) Every input (domain/in, domain/inout) survives parse -> format -> parse ->
    format: the two formats are equal, and every element, attribute and text
    of the input is present in the output (modulo libvirt's canonicalisations,
    applied explicitly by ``normalise``). Inputs with NAME.err beside them may
    instead raise VirtError.
(2) Every libvirt-written file (domain/out, domain/inout) formats back byte for byte.

Each set passes whole today, and the tests hold those exact counts: a file that
stops passing, or goes missing, fails them. The summary (with every failure,
those located in <devices> marked) goes to stdout.
"""

from __future__ import annotations

import traceback
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from virtkit.conf.domain import DomainDef, parse_uuid
from virtkit.conf.domain_memory import parse_memory_kib
from virtkit.errors import VirtError
from virtkit.testing.repo import conformance_dir

# Files of shared/conformance/libvirt-xml/domain that pass, which today is all of them.
EXPECTED_INPUTS = 927  # in/ and inout/
EXPECTED_OUTPUTS = 520  # out/ and inout/


def _conformance_dir() -> Path:
    domain = conformance_dir("domain")
    if not domain.is_dir():
        pytest.fail(f"conformance data not found at {domain} (set VIRTKIT_CONFORMANCE)")
    return domain


def _files(*sets: str) -> list[Path]:
    domain = _conformance_dir()
    found: list[Path] = []
    for name in sets:
        folder = domain / name
        if folder.is_dir():
            found += sorted(folder.glob("*.xml"))
    assert found, f"no XML files in {sets} under {domain}"
    return found


# ----------------------------------------------------------------------------- facts

# Elements whose text is a memory size libvirt rewrites in KiB.
_SIZE_ELEMENTS = {
    ("domain", "memory"), ("domain", "currentMemory"), ("domain", "maxMemory"),
    ("domain", "memtune", "hard_limit"), ("domain", "memtune", "soft_limit"),
    ("domain", "memtune", "min_guarantee"), ("domain", "memtune", "swap_hard_limit"),
    ("domain", "features", "hpt", "maxpagesize"), ("domain", "features", "tcg", "tb-cache"),
}
# Elements whose attribute is a memory size (path, value attribute).
_SIZE_ATTRS = {
    ("domain", "memoryBacking", "hugepages", "page"): "size",
    ("domain", "cpu", "numa", "cell"): "memory",
}
_UUID_ELEMENTS = {("domain", "uuid"), ("domain", "genid")}

Fact = tuple[tuple[str, ...], str | None, str | None]


def _path(el: etree._Element) -> tuple[str, ...]:
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        parts.append(str(node.tag))
        node = node.getparent()
    return tuple(reversed(parts))


def normalise(root: etree._Element) -> None:
    """Apply libvirt's canonicalisations to a parsed document, in place."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        path = _path(el)
        if path in _SIZE_ELEMENTS and (el.text or "").strip():
            el.text = str(parse_memory_kib(el.text or "", el.get("unit"), "x"))
            el.set("unit", "KiB")
        elif path in _SIZE_ATTRS and el.get(_SIZE_ATTRS[path]) is not None:
            name = _SIZE_ATTRS[path]
            el.set(name, str(parse_memory_kib(el.get(name) or "", el.get("unit"), "x")))
            el.set("unit", "KiB")
        elif path in _UUID_ELEMENTS:
            text = (el.text or "").strip()
            el.text = parse_uuid(text) if text else None


def facts(xml: str) -> set[Fact]:
    """Every element, attribute and non-blank text of a document, by path."""
    root = etree.fromstring(xml.encode())
    normalise(root)
    found: set[Fact] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        path = _path(el)
        found.add((path, None, None))
        for k, v in el.attrib.items():
            found.add((path, str(k), str(v)))
        text = (el.text or "").strip()
        if text and not len(el):
            found.add((path, "#text", text))
        elif path in _UUID_ELEMENTS:
            pass
    return found


def _describe(fact: Fact) -> str:
    path, name, value = fact
    where = "/".join(p.split("}")[-1] for p in path)
    if name is None:
        return where
    return f"{where}/@{name}={value!r}" if name != "#text" else f"{where}={value!r}"


def _is_device_path(text: str) -> bool:
    return text.startswith("domain/devices")


# ----------------------------------------------------------------------------- runs


def _check_input(path: Path) -> tuple[str, bool] | None:
    """None when ``path`` passes, else (reason, device_related)."""
    text = path.read_text()
    may_fail = path.with_suffix(".err").exists()
    try:
        first = DomainDef.from_xml(text).to_xml()
    except VirtError as exc:
        if may_fail:
            return None
        return f"parse: {exc!r}", "/dev" in traceback.format_exc()
    except Exception as exc:  # a crash is always a failure
        return f"crash: {exc!r}", "conf/dev" in traceback.format_exc()
    try:
        second = DomainDef.from_xml(first).to_xml()
    except Exception as exc:
        return f"reparse: {exc!r}", "conf/dev" in traceback.format_exc()
    if first != second:
        a, b = first.splitlines(), second.splitlines()
        line = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
        lx = a[line] if line < len(a) else "<end>"
        ly = b[line] if line < len(b) else "<end>"
        return f"unstable at line {line + 1}: {lx.strip()!r} -> {ly.strip()!r}", "devices" in lx
    lost = facts(text) - facts(first)
    if lost:
        shown = sorted(_describe(f) for f in lost)
        device = all(_is_device_path(s) for s in shown)
        return f"lost {len(shown)}: " + "; ".join(shown[:4]), device
    fewer = _fewer_elements(text, first)
    if fewer:
        return "lost elements: " + "; ".join(fewer[:4]), all("devices" in f for f in fewer)
    return None


def element_counts(xml: str) -> Counter[tuple[str, ...]]:
    """How many elements stand at each path (two identical <console/> count twice)."""
    root = etree.fromstring(xml.encode())
    return Counter(_path(el) for el in root.iter() if isinstance(el.tag, str))


def _fewer_elements(text: str, out: str) -> list[str]:
    """Paths with fewer elements in ``out`` than in ``text``: what a set of facts misses."""
    have = element_counts(out)
    return [f"{'/'.join(p)}: {n} -> {have[p]}" for p, n in sorted(element_counts(text).items())
            if have[p] < n]


def _check_output(path: Path) -> tuple[str, bool] | None:
    text = path.read_text()
    try:
        out = DomainDef.from_xml(text).to_xml()
    except Exception as exc:
        return f"parse: {exc!r}", "conf/dev" in traceback.format_exc()
    if out == text:
        return None
    a, b = text.splitlines(), out.splitlines()
    pairs = enumerate(zip(a, b, strict=False))
    line = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
    want = a[line] if line < len(a) else "<end>"
    got = b[line] if line < len(b) else "<end>"
    # A difference inside <devices> belongs to the devices model.
    opened = sum(1 for x in a[:line] if x.strip() == "<devices>")
    closed = sum(1 for x in a[:line] if x.strip() == "</devices>")
    return f"line {line + 1}: want {want.strip()!r} got {got.strip()!r}", opened > closed


def _report(title: str, results: dict[str, tuple[str, bool] | None]) -> tuple[int, int]:
    """Print the summary; (passed, total)."""
    total = len(results)
    failures = {k: v for k, v in results.items() if v is not None}
    lines = [f"{title}: {total - len(failures)}/{total} passed"]
    lines += [f"  FAIL {name}{' (devices)' if dev else ''}: {why}"
              for name, (why, dev) in sorted(failures.items())]
    print("\n".join(lines))
    return total - len(failures), total


def test_inputs_round_trip_without_loss() -> None:
    results = {p.name: _check_input(p) for p in _files("in", "inout")}
    counts = _report("domain inputs (parse/format stable, nothing lost)", results)
    assert counts == (EXPECTED_INPUTS, EXPECTED_INPUTS)


def test_libvirt_output_formats_byte_identical() -> None:
    results = {p.name: _check_output(p) for p in _files("out", "inout")}
    counts = _report("domain libvirt output (byte-identical)", results)
    assert counts == (EXPECTED_OUTPUTS, EXPECTED_OUTPUTS)


def test_element_counts_see_a_lost_twin() -> None:
    """Losing one of two identical elements is seen (a set of facts would not see it)."""
    two = "<domain><devices><console type='pty'/><console type='pty'/></devices></domain>"
    one = "<domain><devices><console type='pty'/></devices></domain>"
    assert facts(two) == facts(one)
    assert _fewer_elements(two, one) == ["domain/devices/console: 2 -> 1"]
    assert _fewer_elements(one, two) == []


def test_fact_helper_sees_losses() -> None:
    """The comparison itself must be able to fail."""
    full = "<domain type='kvm'><name>a</name><x y='1'>t</x></domain>"
    less = "<domain type='kvm'><name>a</name><x>t</x></domain>"
    assert facts(full) - facts(less) == {(("domain", "x"), "y", "1")}
    kib = "<domain><memory unit='MiB'>1</memory></domain>"
    assert (("domain", "memory"), "#text", "1024") in facts(kib)
