"""virDomainSetMemoryStatsPeriod and virDomainMemoryStats on the QEMU driver, for a defined
domain (no guest); a running guest's statistics are in test_qemu_devupdate.py's stock-client
test (``virsh dommemstat --period``)."""

from __future__ import annotations

from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml

import virtkit
from virtkit.constants import DomainModificationImpact
from virtkit.errors import ErrorCode, ErrorDomain

LIVE, CONFIG = int(DomainModificationImpact.LIVE), int(DomainModificationImpact.CONFIG)


def test_period_in_the_config(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "bal1"))
    dom.set_memory_stats_period(5, CONFIG)  # the virtio balloon start would add, as libvirt's
    assert "<stats period='5'/>" in dom.xml()
    dom.set_memory_stats_period(0, 0)  # CURRENT: the config; 0 stops collecting
    assert "<stats" not in dom.xml()
    assert "<memballoon model='virtio'" in dom.xml()


def test_refusals(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    xml = domain_xml(guest, qroot.path, "bal2")
    dom = conn.define_domain(xml)
    with pytest.raises(virtkit.VirtError) as exc:
        dom.memory_stats()
    assert (exc.value.code, exc.value.domain) == (ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN)
    assert str(exc.value) == "Requested operation is not valid: domain is not running"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.set_memory_stats_period(1, LIVE)
    assert str(exc.value) == "Requested operation is not valid: domain is not running"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.set_memory_stats_period(1, 1 << 3)
    assert exc.value.code == ErrorCode.INVALID_ARG
    nob = conn.define_domain(domain_xml(guest, qroot.path, "bal3").replace(
        "</devices>", "<memballoon model='none'/></devices>"))
    with pytest.raises(virtkit.VirtError) as exc:
        nob.set_memory_stats_period(1, CONFIG)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert str(exc.value) == ("internal error: No memory balloon device configured, can not set "
                              "the collection period")
