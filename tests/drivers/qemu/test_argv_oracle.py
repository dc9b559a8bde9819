"""virtkit's QEMU command line against libvirtd 9.0's, for every input both take.

argv_oracle.py does the work (inputs, normalisation, classification; docs/compat.md
explains them). data/argv_oracle_expected.json holds what is known today: the count of
each class, every differing file with its kinds of difference and their reasons, and
every file libvirt accepts but virtkit refuses. Any change fails: a regression, a new
difference, or a difference that went away (then rewrite the file with
``.venv/bin/python tests/drivers/qemu/argv_oracle.py --write`` and review the diff).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argv_oracle as oracle
import pytest

EXPECTED: dict[str, Any] = json.loads(oracle.EXPECTED.read_text())
COMPAT = oracle.REPO / "docs" / "compat.md"


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[dict[str, Any], list[str]]]:
    with oracle.libvirt_oracle() as lv:
        results = oracle.measure(lv)
        crashes = list(lv.crashes)
    yield oracle.summary(results), crashes


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(600)
def test_libvirtd_never_crashed(measured: tuple[dict[str, Any], list[str]]) -> None:
    assert measured[1] == []


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(600)
def test_class_counts(measured: tuple[dict[str, Any], list[str]]) -> None:
    counts = measured[0]["counts"]
    assert counts == EXPECTED["counts"]
    compared = counts["identical"] + counts["normalised"] + counts["differs"]
    assert compared > 300 and counts["identical"] > counts["differs"]


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(600)
def test_known_differences_only(measured: tuple[dict[str, Any], list[str]]) -> None:
    assert measured[0]["differs"] == EXPECTED["differs"]


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(600)
def test_refused_by_virtkit_only(measured: tuple[dict[str, Any], list[str]]) -> None:
    assert measured[0]["refused_by_virtkit"] == EXPECTED["refused_by_virtkit"]


# ---------------------------------------------------------------------------- no libvirt


def test_every_reason_is_documented() -> None:
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", COMPAT.read_text(), re.M))
    used = {r for f in EXPECTED["differs"].values() for r in f["reasons"]}
    assert used <= documented
    assert {r for r, _, _ in oracle._RULES} | {"pcie-root-ports"} == documented


def test_inputs_cover_the_data_files() -> None:
    names = set(oracle.conformance_inputs())
    data = {f"virtkit/{p.name}" for p in (Path(oracle.HERE) / "data").glob("*.xml")}
    assert data <= names
    assert len(names) > 1000


def test_split_and_normalise() -> None:
    text = ("LC_ALL=C PATH=/usr/bin HOME=/var/lib/libvirt/qemu/domain--1-a "
            "/usr/bin/qemu-system-x86_64 -name guest=a,debug-threads=on -S "
            "-object '{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\"}' "
            "-netdev '{\"type\":\"tap\",\"fd\":\"16\",\"id\":\"hostnet0\"}' "
            "-sandbox on,obsolete=deny -msg timestamp=on -no-acpi")
    argv = oracle.split_libvirt(text)
    assert argv[:2] == ["-name", "guest=a,debug-threads=on"]
    xml = "<domain/>"
    groups = oracle.normalise(argv, xml)
    assert groups == [("-name", "guest=a,debug-threads=on"),
                      ("-netdev", '{"id":"hostnet0","type":"tap"}'), ("-no-acpi", "")]
    ours = [("-name", "guest=a,debug-threads=on"), ("-netdev", '{"id":"hostnet0","type":"tap"}'),
            ("-no-reboot", "")]
    assert oracle.differences(groups, ours) == ["+-no-acpi", "--no-reboot"]
    assert oracle.differences(groups, list(reversed(groups))) == ["order"]
    assert oracle.kind(("-device", '{"driver":"lsi","id":"scsi0"}')) == "-device:lsi"


def test_reasons_leave_nothing_unexplained() -> None:
    assert oracle.reasons_for("in/x-q35.xml", ["+-device:pcie-root-port",
                                               "~-device:virtio-blk-pci", "~-cpu"]) == [
        "cpu-model-expansion", "pcie-root-ports"]
    with pytest.raises(ValueError, match="no reason"):
        oracle.reasons_for("in/x.xml", ["~-device:virtio-blk-pci"])
