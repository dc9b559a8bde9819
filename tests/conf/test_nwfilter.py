"""The nwfilter and binding models: libvirt's parsing rules beyond the conformance files."""

from __future__ import annotations

import pytest

from virtkit.conf.nwfilter import NWFilterDef, VarAccess
from virtkit.conf.nwfilter_binding import NWFilterBindingDef
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

U = "<uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55335</uuid>"


def rule_xml(body: str, chain: str = "") -> str:
    return f"<filter name='t'{chain}>{U}<rule action='drop' direction='out'>{body}</rule></filter>"


def fmt(xml: str) -> str:
    return NWFilterDef.from_xml(xml).to_xml()


def test_defaults_chain_priority_and_uuid() -> None:
    d = NWFilterDef.from_xml("<filter name='a' chain='arp-x'/>")
    assert (d.chain, d.priority, d.uuid_specified) == ("arp-x", -500, False)
    assert NWFilterDef.from_xml("<filter name='a' chain='stp'/>").priority == 0
    # a priority without a chain is ignored, as libvirt does
    assert NWFilterDef.from_xml("<filter name='a' priority='-7'/>").priority == 0


@pytest.mark.parametrize("xml,code", [
    ("<filter/>", ErrorCode.INTERNAL_ERROR),
    ("<filter name='a' chain='rootx'/>", ErrorCode.INVALID_ARG),
    ("<filter name='a' chain='bad'/>", ErrorCode.INVALID_ARG),
    ("<filter name='a' chain='ipv4' priority='2000'/>", ErrorCode.INVALID_ARG),
    ("<filter name='a'><uuid>nope</uuid></filter>", ErrorCode.XML_ERROR),
    ("<filter name='a'><rule direction='out'/></filter>", ErrorCode.INTERNAL_ERROR),
    ("<filter name='a'><rule action='x' direction='out'/></filter>",
     ErrorCode.CONFIG_UNSUPPORTED),
    ("<filter name='a'><filterref/></filter>", ErrorCode.INTERNAL_ERROR),
])
def test_refused(xml: str, code: int) -> None:
    with pytest.raises(VirtError) as info:
        NWFilterDef.from_xml(xml)
    assert info.value.code == code and info.value.domain == ErrorDomain.NWFILTER


def test_values_are_typed_in_libvirts_order() -> None:
    out = fmt(rule_xml("<ip protocol='17' srcportstart='0x10' dstportstart='20' "
                       "srcipaddr='10.0.0.1' srcipmask='255.255.0.0' srcmacaddr='A:b:0:0:0:1'/>"))
    assert ("<ip srcmacaddr='0a:0b:00:00:00:01' srcipaddr='10.0.0.1' srcipmask='16' "
            "protocol='udp' srcportstart='0x10' dstportstart='20'/>") in out


def test_ports_need_a_port_protocol() -> None:
    with pytest.raises(VirtError, match="port specification"):
        NWFilterDef.from_xml(rule_xml("<ip srcportstart='1'/>"))


def test_mixed_negation_splits_elements() -> None:
    xml = rule_xml("<tcp match='no' srcipaddr='10.0.0.1'/><tcp dscp='3'/>")
    assert ("<tcp match='no' srcipaddr='10.0.0.1'/>\n    <tcp dscp='3'/>") in fmt(xml)


def test_only_the_first_protocol_counts() -> None:
    out = fmt(rule_xml("<udp dscp='1'/><tcp dscp='2'/>"))
    assert "<udp dscp='1'/>" in out and "tcp" not in out


def test_state_flags_and_tcp_flags() -> None:
    out = fmt(rule_xml("<tcp state='related,new' flags='syn,ack/SYN'/>"))
    assert "state='NEW,RELATED'" in out and "flags='SYN,ACK/SYN'" in out
    assert "state='NONE'" in fmt(rule_xml("<all state='NEW,NONE'/>"))


def test_variables() -> None:
    out = fmt(rule_xml("<ip srcipaddr='$IP' dstipaddr='$L[@2]' srcmacaddr='$M[1]'/>"))
    assert "srcmacaddr='$M[1]' srcipaddr='$IP' dstipaddr='$L[@2]'" in out
    assert VarAccess.parse("X[@0]") == VarAccess("X")
    with pytest.raises(VirtError, match="illegal value"):
        NWFilterDef.from_xml(rule_xml("<ip srcipaddr='$X[@1001]'/>"))


def test_filterref_parameters_sorted_and_lists_kept() -> None:
    xml = (f"<filter name='a'>{U}<filterref filter='b'><parameter name='Z' value='1'/>"
           "<parameter name='A' value='2'/><parameter name='Z' value='0'/>"
           "<parameter name='bad!' value='x'/></filterref></filter>")
    assert ("<parameter name='A' value='2'/>\n    <parameter name='Z' value='1'/>\n"
            "    <parameter name='Z' value='0'/>") in fmt(xml)


def test_ipset_gets_default_flags() -> None:
    assert "ipset='s' ipsetflags='src'" in fmt(rule_xml("<tcp ipset='s'/>"))


BINDING = ("<filterbinding><owner><name>vm</name><uuid>D54DF46F1AB54A2286184560EF5FAC2C</uuid>"
           "</owner><portdev name='vnet0'/><mac address='52:54:00:7B:35:93'/>"
           "<filterref filter='clean-traffic'/></filterbinding>")


def test_binding_canonicalises() -> None:
    b = NWFilterBindingDef.from_xml(BINDING)
    assert "<uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>" in b.to_xml()
    assert b.mac is not None and b.mac.address == "52:54:00:7b:35:93"
    assert (b.portdev_name, b.filter_name) == ("vnet0", "clean-traffic")


@pytest.mark.parametrize("cut,msg", [
    ("<portdev name='vnet0'/>", "no port dev name"),
    ("<mac address='52:54:00:7B:35:93'/>", "no MAC address"),
    ("<filterref filter='clean-traffic'/>", "no filter reference"),
    ("<name>vm</name>", "no owner name"),
])
def test_binding_refused(cut: str, msg: str) -> None:
    with pytest.raises(VirtError, match=msg):
        NWFilterBindingDef.from_xml(BINDING.replace(cut, ""))
