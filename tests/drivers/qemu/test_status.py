"""The QEMU driver's live status document (``<domstatus>``) and its store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from virtkit.drivers.persist import ConfigStore
from virtkit.drivers.qemu.status import DomainStatus, StatusStore
from virtkit.errors import VirtError

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>65536</memory>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
</domain>
"""

LIVE_XML = """<domain type='qemu' id='7'>
  <name>{name}</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <metadata>
    <app:x xmlns:app="http://example.org/app">a &amp; b</app:x>
  </metadata>
  <devices>
    <serial type='pty'>
      <source path='/dev/pts/5'/>
    </serial>
  </devices>
</domain>
"""


def test_stores_refuse_bad_names(tmp_path: Path) -> None:
    cfg = ConfigStore(str(tmp_path / "etc"))
    with pytest.raises(VirtError):
        cfg.save("../x", DOMAIN_XML.format(name="x"))
    with pytest.raises(VirtError):
        StatusStore(str(tmp_path / "run")).load("a/b")
    assert not (tmp_path / "x.xml").exists()


# -- live status ----------------------------------------------------------------------------


def full_status(name: str = "vm1") -> DomainStatus:
    return DomainStatus(
        name=name, pid=4242, state="paused", reason="user", start_time=987654,
        argv0="/usr/bin/qemu-system-x86_64",
        monitor_path="/var/lib/libvirt/qemu/domain-7-vm1/monitor.sock",
        log_file="/var/log/libvirt/qemu/vm1.log", log_pos=1234,
        ptys={"serial0": "/dev/pts/5", "console0": "/dev/pts/5"},
        vcpus={0: 4250, 1: 4251},
        domain_xml=LIVE_XML.format(name=name))


def test_status_round_trip_and_shape(tmp_path: Path) -> None:
    store = StatusStore(str(tmp_path / "run" / "qemu"))
    assert store.load("vm1") is None
    st = full_status()
    store.save(st)
    text = (tmp_path / "run" / "qemu" / "vm1.xml").read_text()
    assert text.startswith("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.")
    body = text[text.index("-->") + 5:]
    assert body.startswith("<domstatus state='paused' reason='user' pid='4242'>\n"
                           "  <monitor path='/var/lib/libvirt/qemu/domain-7-vm1/monitor.sock'"
                           " type='unix'/>\n  <vcpus>\n    <vcpu id='0' pid='4250'/>\n")
    assert "\n  <domain type='qemu' id='7'>\n    <name>vm1</name>\n" in body
    assert body.endswith("  </domain>\n</domstatus>\n")
    root = etree.fromstring(body.encode())
    assert root.tag == "domstatus" and root[0].tag == "monitor"
    back = store.load("vm1")
    assert back is not None
    assert back.domain_xml.startswith("<domain type=\"qemu\" id=\"7\">\n  <name>vm1</name>")
    assert etree.fromstring(back.domain_xml.encode()).find("metadata")[0].text == "a & b"
    back.domain_xml = st.domain_xml
    assert back == st
    assert store.names() == ["vm1"]
    store.delete("vm1")
    store.delete("vm1")
    assert store.load("vm1") is None


@pytest.mark.parametrize("content", [
    "",
    "<domstatus state='running' reason='booted' pid='12'>\n  <monitor path='/x' type='unix'/>\n",
    "<domain type='qemu'><name>vm1</name></domain>",
    "<domstatus pid='abc'><domain><name>vm1</name></domain></domstatus>",
    "<domstatus pid='1'><process starttime='x'/><domain><name>vm1</name></domain></domstatus>",
    "<domstatus pid='1'><domain><name>someone-else</name></domain></domstatus>",
    "<domstatus pid='1'></domstatus>",
])
def test_corrupt_status_is_quarantined(tmp_path: Path, content: str) -> None:
    store = StatusStore(str(tmp_path))
    store.save(full_status("ok"))
    (tmp_path / "vm1.xml").write_text(content)
    found, errors = store.load_all()
    assert [s.name for s in found] == ["ok"]
    assert len(errors) == 1
    err = errors[0]
    assert err.name == "vm1" and err.path == str(tmp_path / "vm1.xml")
    assert err.reason
    assert err.quarantined_to is not None
    assert Path(err.quarantined_to).read_text() == content  # kept, never deleted
    assert not (tmp_path / "vm1.xml").exists()
    # Quarantining twice in the same second does not overwrite the first copy.
    (tmp_path / "vm1.xml").write_text(content)
    with pytest.raises(VirtError):
        store.load("vm1")
    assert len([p for p in os.listdir(tmp_path) if p.startswith("vm1.xml.corrupt-")]) == 2


def test_status_minimal_document(tmp_path: Path) -> None:
    # What libvirt itself writes (no virtkit <process>): still readable.
    (tmp_path / "vm1.xml").write_text(
        "<domstatus state='running' reason='booted' pid='195139'>\n"
        "  <taint flag='high-privileges'/>\n"
        "  <monitor path='/var/lib/libvirt/qemu/domain-1-vm1/monitor.sock' type='unix'/>\n"
        "  <domain type='kvm' id='1'>\n    <name>vm1</name>\n  </domain>\n</domstatus>\n")
    st = StatusStore(str(tmp_path)).load("vm1")
    assert st is not None
    assert (st.pid, st.state, st.reason, st.start_time) == (195139, "running", "booted", 0)
    assert st.monitor_path.endswith("domain-1-vm1/monitor.sock")
