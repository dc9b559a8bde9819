"""virDomainSetMetadata / GetMetadata on the QEMU driver, for a defined domain (no guest).

A running guest (live metadata, the status file, a daemon restart, libvirt-python's
METADATA_CHANGE callback) is covered by test_qemu_devupdate.py's stock-client test.
"""

from __future__ import annotations

from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml

import virtkit
from virtkit.constants import DomainEventID, DomainMetadataType, DomainModificationImpact
from virtkit.errors import ErrorCode, ErrorDomain

TITLE, ELEMENT = int(DomainMetadataType.TITLE), int(DomainMetadataType.ELEMENT)
LIVE, CONFIG = int(DomainModificationImpact.LIVE), int(DomainModificationImpact.CONFIG)
NS = "http://example.org/virtkit-test/meta"


def test_config_metadata_is_saved_and_announced(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "meta1"))
    with conn.domain_events(int(DomainEventID.METADATA_CHANGE)) as events:
        dom.set_metadata(TITLE, "Web server", None, None, 0)  # CURRENT: the config
        dom.set_metadata(ELEMENT, "<app><tier>front</tier></app>", "vk", NS, CONFIG)
        got = [events.get(timeout=10) for _ in range(2)]
    assert [(e.domain.name, e.event_id, e.payload) for e in got if e is not None] == [
        ("meta1", int(DomainEventID.METADATA_CHANGE), (TITLE, None)),
        ("meta1", int(DomainEventID.METADATA_CHANGE), (ELEMENT, NS))]
    assert dom.metadata(TITLE) == "Web server"
    assert dom.metadata(ELEMENT, NS, CONFIG) == "<app>\n  <tier>front</tier>\n</app>"
    saved = (qroot.path / "etc" / "qemu" / "meta1.xml").read_text()  # the embedded layout
    assert "<title>Web server</title>" in saved
    assert f'<vk:app xmlns:vk="{NS}">' in saved
    dom.set_metadata(TITLE, None, None, None, 0)
    with pytest.raises(virtkit.VirtError) as exc:
        dom.metadata(TITLE)
    assert exc.value.code == ErrorCode.NO_DOMAIN_METADATA
    assert str(exc.value) == "metadata not found: Requested metadata element is not present"


def test_refusals(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "meta2"))
    with pytest.raises(virtkit.VirtError) as exc:
        dom.set_metadata(TITLE, "x", None, None, LIVE)
    assert (exc.value.code, exc.value.domain) == (ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN)
    assert str(exc.value) == "Requested operation is not valid: domain is not running"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.metadata(TITLE, None, LIVE | CONFIG)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert str(exc.value) == ("Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' "
                              "are mutually exclusive")
    with pytest.raises(virtkit.VirtError) as exc:
        dom.set_metadata(7, "x", None, None, 0)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert str(exc.value) == "invalid argument: unknown metadata type '7'"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.set_metadata(TITLE, "x", None, None, 1 << 4)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert str(exc.value) == ("unsupported flags (0x10) in function qemuDomainSetMetadata")
