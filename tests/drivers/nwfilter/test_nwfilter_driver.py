"""The nwfilter driver table, with a recording firewall (the real one: test_netns.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtkit.drivers.nwfilter import Firewall, NWFilterDriverImpl
from virtkit.drivers.nwfilter.nft import PortProgram
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import NWFilterIdent


class Recorder(Firewall):
    def __init__(self) -> None:
        self.applied: dict[str, PortProgram] = {}
        self.log: list[str] = []

    def apply(self, prog: PortProgram) -> None:
        self.applied[prog.port] = prog
        self.log.append(f"apply {prog.port}")

    def remove(self, port: str) -> None:
        self.applied.pop(port, None)
        self.log.append(f"remove {port}")


def binding(filt: str = "mine", port: str = "vnet0") -> str:
    return (f"<filterbinding><owner><name>vm</name>"
            "<uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>"
            f"<portdev name='{port}'/><mac address='52:54:00:aa:bb:01'/>"
            f"<filterref filter='{filt}'><parameter name='IP' value='10.0.0.2'/></filterref>"
            "</filterbinding>")


MINE = ("<filter name='mine' chain='root'><uuid>11111111-2222-3333-4444-555555555555</uuid>"
        "<filterref filter='no-ip-spoofing'/>"
        "<rule action='drop' direction='in'><tcp dstportstart='{port}'/></rule></filter>")


@pytest.fixture
def drv(tmp_path: Path) -> NWFilterDriverImpl:
    return NWFilterDriverImpl(root=str(tmp_path), firewall=Recorder())


def fw(d: NWFilterDriverImpl) -> Recorder:
    assert isinstance(d.firewall, Recorder)
    return d.firewall


def test_standard_filters_are_listed(drv: NWFilterDriverImpl) -> None:
    names = [i.name for i in drv.connect_list_all_nwfilters()]
    assert len(names) == 24 and names == sorted(names)
    ident = drv.nwfilter_lookup_by_name("clean-traffic")
    assert drv.nwfilter_lookup_by_uuid(ident.uuid) == ident
    assert "<filterref filter='no-mac-spoofing'/>" in drv.nwfilter_get_xml_desc(ident)
    with pytest.raises(VirtError) as info:
        drv.nwfilter_lookup_by_name("nope")
    assert info.value.code == ErrorCode.NO_NWFILTER


def test_define_persist_and_reload(drv: NWFilterDriverImpl, tmp_path: Path) -> None:
    ident = drv.nwfilter_define_xml(MINE.format(port=22))
    assert (tmp_path / "etc/libvirt/nwfilter/mine.xml").exists()
    again = NWFilterDriverImpl(root=str(tmp_path), firewall=Recorder())
    assert again.nwfilter_lookup_by_name("mine") == ident
    with pytest.raises(VirtError) as info:
        drv.nwfilter_define_xml(MINE.format(port=22).replace("11111111", "99999999"))
    assert info.value.code == ErrorCode.OPERATION_FAILED


def test_binding_lifecycle_and_redefine(drv: NWFilterDriverImpl, tmp_path: Path) -> None:
    drv.nwfilter_define_xml(MINE.format(port=22))
    b = drv.nwfilter_binding_create_xml(binding())
    assert tuple(b) == ("vnet0", "mine")
    assert drv.nwfilter_binding_lookup_by_port_dev("vnet0") == b
    assert "th dport 22 drop" in " ".join(fw(drv).applied["vnet0"].chains["l3-i-vnet0"])
    assert (tmp_path / "run/libvirt/nwfilter-binding/vnet0.xml").exists()
    with pytest.raises(VirtError) as info:
        drv.nwfilter_binding_create_xml(binding())
    assert info.value.code == ErrorCode.OPERATION_INVALID

    drv.nwfilter_define_xml(MINE.format(port=80))  # re-instantiates the binding
    assert "th dport 80 drop" in " ".join(fw(drv).applied["vnet0"].chains["l3-i-vnet0"])
    with pytest.raises(VirtError, match="in use"):
        drv.nwfilter_undefine(drv.nwfilter_lookup_by_name("no-ip-spoofing"))

    restarted = NWFilterDriverImpl(root=str(tmp_path), firewall=Recorder())
    assert fw(restarted).log == ["apply vnet0"]
    assert "<filterref filter='mine'>" in restarted.nwfilter_binding_get_xml_desc(b)

    drv.nwfilter_binding_delete(b)
    assert fw(drv).log[-1] == "remove vnet0" and drv.connect_list_all_nwfilter_bindings() == []
    drv.nwfilter_undefine(drv.nwfilter_lookup_by_name("mine"))
    assert not (tmp_path / "etc/libvirt/nwfilter/mine.xml").exists()
    with pytest.raises(VirtError) as info:
        drv.nwfilter_binding_lookup_by_port_dev("vnet0")
    assert info.value.code == ErrorCode.NO_NWFILTER_BINDING


def test_failed_redefine_keeps_the_old_filter(drv: NWFilterDriverImpl) -> None:
    drv.nwfilter_define_xml(MINE.format(port=22))
    drv.nwfilter_binding_create_xml(binding())
    bad = MINE.format(port=22).replace("dstportstart='22'", "connlimit-above='2'")
    with pytest.raises(VirtError):
        drv.nwfilter_define_xml(bad)
    xml = drv.nwfilter_get_xml_desc(drv.nwfilter_lookup_by_name("mine"))
    assert "dstportstart='22'" in xml


def test_loops_and_missing_filters_are_refused(drv: NWFilterDriverImpl) -> None:
    drv.nwfilter_define_xml("<filter name='a'><filterref filter='b'/></filter>")
    with pytest.raises(VirtError, match="loop"):
        drv.nwfilter_define_xml("<filter name='b'><filterref filter='a'/></filter>")
    with pytest.raises(VirtError, match="no nwfilter"):
        drv.nwfilter_binding_create_xml(binding("absent"))
    with pytest.raises(VirtError, match="is missing"):
        drv.nwfilter_binding_create_xml(binding("a"))
    assert drv.connect_list_all_nwfilter_bindings() == []


def test_missing_ip_is_refused(drv: NWFilterDriverImpl) -> None:
    xml = binding("clean-traffic").replace("<parameter name='IP' value='10.0.0.2'/>", "")
    with pytest.raises(VirtError, match="unresolvable"):
        drv.nwfilter_binding_create_xml(xml)
    assert isinstance(drv.nwfilter_lookup_by_name("allow-arp"), NWFilterIdent)


def test_domain_hook(drv: NWFilterDriverImpl) -> None:
    from virtkit.conf.domain import DomainDef
    from virtkit.drivers import domain_nwfilter as hook

    dom = DomainDef.from_xml(
        "<domain type='qemu'><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>"
        "<memory>1024</memory><os><type>hvm</type></os><devices>"
        "<interface type='bridge'><mac address='52:54:00:aa:bb:01'/><source bridge='br0'/>"
        "<target dev='vnet7'/><filterref filter='clean-traffic'>"
        "<parameter name='IP' value='10.0.0.2'/></filterref></interface>"
        "<interface type='bridge'><mac address='52:54:00:aa:bb:02'/><source bridge='br0'/>"
        "<target dev='vnet8'/></interface></devices></domain>")
    assert hook.instantiate(drv, dom) == ["vnet7"]
    assert "<parameter name='IP' value='10.0.0.2'/>" in drv.nwfilter_binding_get_xml_desc(
        drv.nwfilter_binding_lookup_by_port_dev("vnet7"))
    hook.teardown(drv, ["vnet7", "vnet8"])
    assert drv.connect_list_all_nwfilter_bindings() == []
