"""Driver-neutral persistence: name checks, atomic writes, config and status stores."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from virtkit.drivers.persist import (
    NAME_MAX_BYTES,
    ConfigStore,
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
from virtkit.drivers.persist import write_atomic
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


# -- generic status store ---------------------------------------------------------------


@dataclass
class _Doc:
    name: str
    body: str

    def to_xml(self) -> str:
        return f"<doc>{self.body}</doc>\n"


def _parse(name: str, data: bytes, context: str) -> _Doc:
    text = data.decode()
    text = text[text.index("-->") + 5:] if text.startswith("<!--") else text
    if not text.startswith("<doc>"):
        raise VirtError(f"{context}: not a doc", code=ErrorCode.INTERNAL_ERROR,
                        domain=ErrorDomain.NETWORK)
    return _Doc(name, text[5:text.index("</doc>")])


def test_status_store_is_generic_and_keeps_its_error_domain(tmp_path: Path) -> None:
    store = StatusStore(str(tmp_path), _parse, domain=ErrorDomain.NETWORK)
    store.save(_Doc("n1", "x"))
    assert store.load("n1") == _Doc("n1", "x")
    (tmp_path / "n2.xml").write_text("garbage")
    found, errors = store.load_all()
    assert found == [_Doc("n1", "x")]
    assert [e.name for e in errors] == ["n2"] and errors[0].quarantined_to is not None
    with pytest.raises(VirtError) as exc:
        store.path("a/b")
    assert exc.value.domain == ErrorDomain.NETWORK
    store.delete("n1")
    assert store.names() == []


def test_config_store_error_domain(tmp_path: Path) -> None:
    with pytest.raises(VirtError) as exc:
        ConfigStore(str(tmp_path), domain=ErrorDomain.STORAGE).save("..", "<pool/>")
    assert exc.value.domain == ErrorDomain.STORAGE
