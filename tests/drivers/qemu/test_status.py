"""Persistent definitions, autostart links and live status files of the QEMU driver."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from virtkit.drivers.qemu.status import (
    NAME_MAX_BYTES,
    ConfigStore,
    DomainStatus,
    StatusStore,
    check_name,
    write_atomic,
)
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

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


# -- names ----------------------------------------------------------------------------


def test_check_name_accepts_ordinary_names() -> None:
    for name in ("vm1", "web-1.example", "a b", "ünïcode", "x" * NAME_MAX_BYTES, "..a", ".x"):
        check_name(name)


@pytest.mark.parametrize(("name", "message"), [
    ("a/b", "XML error: name a/b cannot contain '/'"),
    ("../etc", "XML error: name ../etc cannot contain '/'"),
    ("a\nb", "invalid char in name: \n"),
    ("a\0b", "invalid char in name: \0"),
    (".", "XML error: name '.' is not a valid domain name"),
    ("..", "XML error: name '..' is not a valid domain name"),
    ("", "XML error: name '' is not a valid domain name"),
])
def test_check_name_refuses(name: str, message: str) -> None:
    with pytest.raises(VirtError) as ei:
        check_name(name)
    assert str(ei.value) == message
    assert ei.value.code in (ErrorCode.XML_ERROR, ErrorCode.XML_DETAIL)
    assert ei.value.domain == ErrorDomain.QEMU


def test_check_name_length_limit() -> None:
    with pytest.raises(VirtError, match="longer than 200 bytes"):
        check_name("x" * (NAME_MAX_BYTES + 1))
    with pytest.raises(VirtError):
        check_name("é" * 101)  # 202 bytes


def test_stores_refuse_bad_names(tmp_path: Path) -> None:
    cfg = ConfigStore(str(tmp_path / "etc"))
    with pytest.raises(VirtError):
        cfg.save("../x", DOMAIN_XML.format(name="x"))
    with pytest.raises(VirtError):
        StatusStore(str(tmp_path / "run")).load("a/b")
    assert not (tmp_path / "x.xml").exists()


# -- atomic writes -----------------------------------------------------------------------


def test_write_atomic_mode_and_no_temp_left(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    write_atomic(str(path), "one")
    write_atomic(str(path), b"two", mode=0o644)
    assert path.read_text() == "two"
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path)) == ["f.xml"]


def test_write_atomic_failure_keeps_old_and_cleans_temp(tmp_path: Path) -> None:
    path = tmp_path / "d.xml"
    path.mkdir()  # rename onto a directory fails
    with pytest.raises(OSError):
        write_atomic(str(path), "data")
    assert sorted(os.listdir(tmp_path)) == ["d.xml"]


WRITER = """
import sys
from virtkit.drivers.qemu.status import write_atomic
path = sys.argv[1]
blobs = [b"<domain><name>vm</name><description>" + c * 3_000_000 + b"</description></domain>"
         for c in (b"A", b"B")]
print("ready", flush=True)
i = 0
while True:
    write_atomic(path, blobs[i % 2])
    i += 1
"""


def test_crash_mid_write_leaves_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "vm.xml"
    def blob(c: bytes, n: int) -> bytes:
        return b"<domain><name>vm</name><description>" + c * n + b"</description></domain>"

    old = blob(b"O", 1000)
    path.write_bytes(old)
    rng = random.Random(1234)
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                 stdout=subprocess.PIPE)
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.08))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        data = path.read_bytes()
        assert data in (old, blob(b"A", 3_000_000), blob(b"B", 3_000_000))
        # Leftover temp files are hidden and never taken for definitions.
        assert ConfigStore(str(tmp_path)).names() == ["vm"]
    # Some kills landed mid-write (a temp file was left): the case was exercised.
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".vm.xml.")]
    assert leftovers
    # Loading at start-up sweeps them; the definition itself is untouched.
    found, errors = ConfigStore(str(tmp_path)).load_all()
    assert list(found) == ["vm"] and errors == []
    assert os.listdir(tmp_path) == ["vm.xml"]


# -- persistent definitions --------------------------------------------------------------


def test_config_save_load_delete(tmp_path: Path) -> None:
    cfg = ConfigStore(str(tmp_path / "etc" / "qemu"))
    assert cfg.load("vm1") is None and cfg.names() == []
    xml = DOMAIN_XML.format(name="vm1")
    cfg.save("vm1", xml)
    path = tmp_path / "etc" / "qemu" / "vm1.xml"
    text = path.read_text()
    assert text.startswith(
        "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
        "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
        "  virsh edit vm1\nor other application using the libvirt API.\n-->\n\n<domain ")
    assert path.stat().st_mode & 0o777 == 0o600
    assert cfg.load("vm1") == xml
    assert cfg.names() == ["vm1"]
    cfg.delete("vm1")
    cfg.delete("vm1")
    assert cfg.load("vm1") is None and cfg.names() == []


def test_warning_names_uuid_for_shell_unsafe_names(tmp_path: Path) -> None:
    cfg = ConfigStore(str(tmp_path))
    cfg.save("a b", DOMAIN_XML.format(name="a b"), uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809")
    text = (tmp_path / "a b.xml").read_text()
    assert "  virsh edit c7a5fdbd-edaf-9455-926a-d65c16db1809\n" in text


def test_autostart_link(tmp_path: Path) -> None:
    cfg = ConfigStore(str(tmp_path / "qemu"))
    cfg.save("vm1", DOMAIN_XML.format(name="vm1"))
    assert not cfg.autostart("vm1")
    cfg.set_autostart("vm1", True)
    cfg.set_autostart("vm1", True)
    link = tmp_path / "qemu" / "autostart" / "vm1.xml"
    assert link.is_symlink() and os.readlink(link) == str(tmp_path / "qemu" / "vm1.xml")
    assert cfg.autostart("vm1")
    assert cfg.names() == ["vm1"]  # the autostart dir is not a definition
    cfg.set_autostart("vm1", False)
    cfg.set_autostart("vm1", False)
    assert not link.exists() and not cfg.autostart("vm1")
    cfg.set_autostart("vm1", True)
    cfg.delete("vm1")  # deleting the definition removes the link
    assert not link.is_symlink()


def test_config_load_all_quarantines_corrupt(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                             ) -> None:
    cfg = ConfigStore(str(tmp_path))
    cfg.save("good", DOMAIN_XML.format(name="good"))
    cfg.save("renamed", DOMAIN_XML.format(name="other"))
    (tmp_path / "broken.xml").write_text("<domain type='qemu'><name>broken</na")
    found, errors = cfg.load_all()
    assert list(found) == ["good"]
    by_name = {e.name: e for e in errors}
    assert set(by_name) == {"broken", "renamed"}
    broken = by_name["broken"]
    assert broken.quarantined_to is not None
    assert os.path.basename(broken.quarantined_to).startswith("broken.xml.corrupt-")
    assert Path(broken.quarantined_to).read_text() == "<domain type='qemu'><name>broken</na"
    assert not (tmp_path / "broken.xml").exists()
    # A well-formed file with the wrong name is reported and left in place.
    assert by_name["renamed"].quarantined_to is None
    assert "does not match domain name 'other'" in by_name["renamed"].reason
    assert (tmp_path / "renamed.xml").exists()
    assert "does not parse" in caplog.text
    # The next start does not trip over the quarantined file.
    found, errors = cfg.load_all()
    assert list(found) == ["good"] and [e.name for e in errors] == ["renamed"]


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
