# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""Snapshot redefinition on test:///default, against real libvirt 9.0 (libvirt-python).

libvirt's virDomainSnapshotRedefinePrep is shared by its drivers: the cycle check
(VIR_FROM_DOMAIN "moment" messages), the checks against the existing snapshot,
the ``<memory>`` default, disk alignment and the take-over of the old ``<domain>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_differential import SYSTEM_PYTHON, _compare, _libvirt_results
from vk_runner import run_script

import virtkit

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
OTHER = "11111111-2222-3333-4444-555555555555"


def _domain_xml() -> str:
    with virtkit.open("test:///default") as conn:  # closed: the shared node is not kept
        return conn.lookup_domain("test").xml(2)


def _snap(name: str, dom: str, parent: str | None = None, state: str = "shutoff",
          extra: str = "") -> str:
    p = f"<parent><name>{parent}</name></parent>" if parent else ""
    return (f"<domainsnapshot><name>{name}</name><state>{state}</state>{p}"
            f"<creationTime>1</creationTime>{extra}{dom}</domainsnapshot>")


def _script() -> list[list[Any]]:
    dom = _domain_xml()
    uuid_only = f"<domain><uuid>{UUID}</uuid></domain>"
    return [
        ["snapcreate", "test", _snap("a", dom, parent="zz"), 1],
        ["snapcreate", "test", _snap("a", dom, parent="a"), 1],
        ["snapcreate", "test", _snap("a", ""), 1],
        ["snapcreate", "test", _snap("a", uuid_only), 1],
        ["snapcreate", "test", _snap("a", dom.replace(UUID, OTHER)), 1],
        ["snapcreate", "test", _snap("a", dom, extra="<memory snapshot='internal'/>"), 1],
        ["snapcreate", "test", _snap("a", dom, extra="<disks><disk name='vdz'/></disks>"), 1],
        ["snapcreate", "test", _snap("a", dom), 1],
        ["snapcreate", "test", _snap("b", dom, parent="a"), 1],
        ["snapcreate", "test", _snap("c", dom, parent="b"), 3],
        ["snapcurrent", "test"], ["snapparent", "test", "c"], ["snapparent", "test", "b"],
        ["snapcreate", "test", _snap("a", dom, parent="b"), 1],
        ["snapcreate", "test", _snap("a", dom, parent="c"), 1],
        ["snapcreate", "test", _snap("a", dom, parent="a"), 1],
        ["snapcreate", "test", _snap("a", dom, state="running"), 1],
        ["snapcreate", "test", _snap("a", dom, state="disk-snapshot"), 1],
        ["snapcreate", "test", _snap("a", ""), 3],
        ["snapcurrent", "test"], ["snapchildren", "test", "a"], ["snapstate", "test", "a"],
        ["snapcreate", "test", _snap("b", dom), 1], ["snaplist", "test", 1],
        ["snapcreate", "test", "<domainsnapshot><name>n1</name></domainsnapshot>"],
        ["snapcreate", "test", "<domainsnapshot><name>n1</name></domainsnapshot>"],
        ["snapparent", "test", "n1"],
        ["snapcreate", "test", "<domainsnapshot><name>f1</name><memory file='/tmp/m1'/></domainsnapshot>"],
    ]


def test_redefine_matches_libvirt() -> None:
    assert os.path.exists(SYSTEM_PYTHON), "Debian's python3 with python3-libvirt is required"
    script = _script()
    _compare(script, _libvirt_results(script), run_script(script), "virtkit")


_XML_PROBE = """
import json, sys
script = json.loads(sys.stdin.read())
if sys.argv[1] == "libvirt":
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)
    dom = libvirt.open("test:///default").lookupByName("test")
    create, get = dom.snapshotCreateXML, lambda n: dom.snapshotLookupByName(n).getXMLDesc(0)
else:
    import virtkit
    dom = virtkit.open("test:///default").lookup_domain("test")
    create, get = dom.create_snapshot, lambda n: dom.lookup_snapshot(n).xml(0)
for xml, flags in script:
    create(xml, flags)
print(json.dumps([get("a"), get("b")]))
"""


def _xml_of(who: str, script: list[Any]) -> Any:
    python = SYSTEM_PYTHON if who == "libvirt" else sys.executable
    proc = subprocess.run([python, "-c", _XML_PROBE, who], input=json.dumps(script),
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("state", ["shutoff", "running"])
def test_redefined_xml_matches_libvirt(state: str) -> None:
    """The ``<memory>`` default and the aligned disks are filled in; a redefinition without
    a ``<domain>`` keeps the one it replaces."""
    dom = _domain_xml()
    script = [[_snap("a", dom, state=state), 1], [_snap("a", "", state=state), 1],
              [_snap("b", dom, state=state, extra="<memory snapshot='no'/>"), 1]]
    theirs = _xml_of("libvirt", script)
    assert "<memory snapshot=" in theirs[0] and "<disks>" in theirs[0]
    assert "<domain type='test'>" in theirs[0]
    assert _xml_of("virtkit", script) == theirs
