"""Issue 13 item 10: no value reaches a dnsmasq file or an nftables ruleset with a control
character (a newline would start a new dnsmasq option or nft statement).

Every field that reaches a generated file, with every injection string, is refused at
define with VIR_ERR_XML_DETAIL naming the element; the generators refuse it too when the
model object was built without the parser's checks (``from_xml`` alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import virtkit
from virtkit.conf.network import NetworkDef
from virtkit.conf.nwfilter import NWFilterDef
from virtkit.constants import (
    NetworkUpdateCommand,
    NetworkUpdateFlags,
    NetworkUpdateSection,
    NetworkXMLFlags,
)
from virtkit.drivers.network import dnsmasq, firewall
from virtkit.drivers.nwfilter import Firewall, NWFilterDriverImpl, nft
from virtkit.drivers.nwfilter.expand import expand
from virtkit.drivers.nwfilter.nft import PortProgram
from virtkit.errors import ErrorCode, VirtError

# As character references: a literal newline in an attribute is normalised to a space.
INJECTIONS = {"LF": "&#10;", "CR": "&#13;", "TAB": "&#9;", "CRLF": "&#13;&#10;",
              "ESC": "&#27;", "DEL": "&#127;"}
PAYLOAD = "a{inj}log-facility=virtkit-injected.log"  # no "/": the name check would win
DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

# element -> (where the value goes in the network XML)
FIELDS = {
    "<name>": dict(name="X"),
    "<bridge name>": dict(bridge="X"),
    "<domain name>": dict(domain="<domain name='X'/>"),
    "<forwarder domain>": dict(dns="<forwarder domain='X' addr='192.0.2.53'/>"),
    "<txt name>": dict(dns="<txt name='X' value='v'/>"),
    "<txt value>": dict(dns="<txt name='t' value='X'/>"),
    "<srv domain>": dict(dns="<srv service='s' protocol='tcp' domain='X' target='t' port='1'/>"),
    "<srv target>": dict(dns="<srv service='s' protocol='tcp' target='X' port='1'/>"),
    "<hostname>": dict(dns="<host ip='192.168.150.5'><hostname>X</hostname></host>"),
    "<tftp root>": dict(tftp="<tftp root='X'/>"),
    "<bootp file>": dict(dhcp="<bootp file='X'/>"),
    "<bootp server>": dict(dhcp="<bootp file='f' server='X'/>"),
    "<dhcp host name>": dict(dhcp="<host mac='52:54:00:00:00:01' name='X' "
                                  "ip='192.168.150.3'/>"),
    "<dnsmasq:option value>": dict(opts="<dnsmasq:options><dnsmasq:option value='X'/>"
                                        "</dnsmasq:options>"),
}


def network_xml(field: str, value: str) -> str:
    parts = {k: v.replace("X", value) for k, v in FIELDS[field].items()}
    return (f"<network xmlns:dnsmasq='{DNSMASQ_NS}'><name>{parts.get('name', 'inj')}</name>"
            f"<forward mode='nat'/><bridge name='{parts.get('bridge', 'vkinj0')}'/>"
            f"{parts.get('domain', '')}<dns>{parts.get('dns', '')}</dns>"
            "<ip address='192.168.150.1' netmask='255.255.255.0'>"
            f"{parts.get('tftp', '')}<dhcp><range start='192.168.150.2' end='192.168.150.9'/>"
            f"{parts.get('dhcp', '')}</dhcp></ip>{parts.get('opts', '')}</network>")


CASES = [pytest.param(f, i, id=f"{f}-{i}") for f in FIELDS for i in INJECTIONS]


def _files(tmp_path: Path) -> dnsmasq.DnsmasqFiles:
    return dnsmasq.DnsmasqFiles(*(str(tmp_path / f"inj.{x}")
                                  for x in ("conf", "hostsfile", "addnhosts", "leases", "pid")))


def test_every_field_is_accepted_without_injection(tmp_path: Path) -> None:
    conn = virtkit.open(f"qemu:///embed?root={tmp_path}")
    try:
        for field in FIELDS:
            net = conn.define_network(network_xml(field, "ok.example"))
            d = NetworkDef.from_xml(net.xml())
            conf, hosts, addn = dnsmasq.build_config(d, _files(tmp_path))
            assert "log-facility" not in conf + hosts + addn
            net.undefine()
    finally:
        conn.close()


@pytest.mark.parametrize(("field", "inj"), CASES)
def test_refused_at_define(tmp_path: Path, field: str, inj: str) -> None:
    conn = virtkit.open(f"qemu:///embed?root={tmp_path}")
    try:
        with pytest.raises(VirtError) as exc:
            conn.define_network(network_xml(field, PAYLOAD.format(inj=INJECTIONS[inj])))
    finally:
        conn.close()
    assert exc.value.code == ErrorCode.XML_DETAIL
    if inj == "ESC":  # not a character XML 1.0 allows: the parser refuses it
        assert "xmlParseCharRef: invalid xmlChar value 27" in str(exc.value)
    elif field == "<name>" and inj in ("LF", "CRLF"):
        assert str(exc.value) == "invalid char in name: \n"  # libvirt's own message
    else:
        assert "is not allowed in " + field in str(exc.value), str(exc.value)
    assert not list(tmp_path.rglob("*.xml"))


RAW = {"LF": "\n", "CR": "\r", "TAB": "\t", "CRLF": "\r\n", "ESC": "\x1b", "DEL": "\x7f",
       "NUL": "\0"}
TOKEN = "qqinjqq"


def _poison(obj: Any, value: str) -> None:
    """Replace TOKEN by ``value`` in every string of a parsed model (no checks run)."""
    if isinstance(obj, etree._Element):
        for el in obj.iter():
            for k, v in el.attrib.items():
                if TOKEN in v:
                    el.set(k, v.replace(TOKEN, value))  # lxml refuses most controls
        return
    for key, v in list(vars(obj).items()):
        if isinstance(v, str) and TOKEN in v:
            setattr(obj, key, v.replace(TOKEN, value))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, str) and TOKEN in item:
                    v[i] = item.replace(TOKEN, value)
                elif hasattr(item, "__dict__"):
                    _poison(item, value)
        elif hasattr(v, "__dict__") or isinstance(v, etree._Element):
            _poison(v, value)


def _model_can_hold(field: str, char: str) -> bool:
    """Whether a parsed model can carry ``char`` in ``field`` at all: lxml refuses XML's
    forbidden characters (NUL, ESC) in the elements kept as lxml trees."""
    if not field.startswith("<dnsmasq:"):
        return True
    try:
        etree.Element("x").set("v", char)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("field", "inj"),
                         [pytest.param(f, i, id=f"{f}-{i}") for f in FIELDS for i in RAW
                          if _model_can_hold(f, RAW[i])])
def test_generators_refuse_a_model_built_without_checks(tmp_path: Path, field: str,
                                                       inj: str) -> None:
    d = NetworkDef.from_xml(network_xml(field, TOKEN))
    _poison(d, f"a{RAW[inj]}log-facility=/tmp/virtkit-injected")
    with pytest.raises(VirtError) as exc:
        dnsmasq.build_config(d, _files(tmp_path))
    assert exc.value.code == ErrorCode.XML_DETAIL
    assert "is not allowed in " + field in str(exc.value)
    with pytest.raises(VirtError):
        firewall.build_rules(d)


def test_net_update_refuses_an_injected_txt(tmp_path: Path) -> None:
    conn = virtkit.open(f"qemu:///embed?root={tmp_path}")
    try:
        net = conn.define_network(network_xml("<txt value>", "ok"))
        with pytest.raises(VirtError) as exc:
            net.update(NetworkUpdateCommand.ADD_LAST, NetworkUpdateSection.DNS_TXT, -1,
                       "<txt name='t2' value='a&#10;log-facility=/tmp/x'/>",
                       NetworkUpdateFlags.CONFIG)
        assert exc.value.code == ErrorCode.XML_DETAIL
        assert "<txt value>" in str(exc.value)
        assert "log-facility" not in net.xml(NetworkXMLFlags.INACTIVE)
    finally:
        conn.close()


# ----------------------------------------------------------------------------- nwfilter / nft

NFT_BAD = {"LF": "\n", "CR": "\r", "NUL": "\0", "ESC": "\x1b", "quote": '"', "semicolon": ";",
           "brace": "}", "space": " "}


class _Recorder(Firewall):
    def __init__(self) -> None:
        self.applied: list[PortProgram] = []

    def apply(self, prog: PortProgram) -> None:
        self.applied.append(prog)

    def remove(self, port: str) -> None:
        del port


@pytest.mark.parametrize("inj", ["&#10;", "&#13;", "&#9;", "&#27;"])
def test_nwfilter_comment_is_refused_at_define(tmp_path: Path, inj: str) -> None:
    drv = NWFilterDriverImpl(root=str(tmp_path), firewall=_Recorder())
    with pytest.raises(VirtError) as exc:
        drv.nwfilter_define_xml(
            "<filter name='c' chain='root'><rule action='drop' direction='in'>"
            f"<tcp dstportstart='22' comment='x{inj}}}; add table ip evil'/></rule></filter>")
    assert exc.value.code == ErrorCode.XML_DETAIL
    assert "<rule> attribute 'comment'" in str(exc.value) or inj == "&#27;"


@pytest.mark.parametrize("bad", list(NFT_BAD.values()), ids=list(NFT_BAD))
def test_nft_generator_refuses_an_injected_comment(bad: str) -> None:
    d = NWFilterDef.from_xml("<filter name='c' chain='root'><rule action='drop' "
                             "direction='in'><tcp dstportstart='22' comment='ok'/></rule>"
                             "</filter>")
    rule = d.rules()[0]
    rule.items["comment"].value = f"x{bad}}}; add table ip evil"
    if bad in "\n\r\0\x1b":
        with pytest.raises(VirtError):
            nft.rule_text(rule, "i")
    else:  # quotes are replaced, the rest stays inside the quoted comment
        text = nft.rule_text(rule, "i")
        assert text.count('"') == 2 and text.endswith('evil"')


@pytest.mark.parametrize("bad", list(NFT_BAD.values()), ids=list(NFT_BAD))
def test_nft_port_names_are_refused(tmp_path: Path, bad: str) -> None:
    port = f"vn{bad}x"
    with pytest.raises(VirtError) as exc:
        nft.chain_name("l2", "o", port)
    assert exc.value.code == ErrorCode.XML_DETAIL
    with pytest.raises(VirtError):
        nft.script(PortProgram(port, {}), set(), set())
    with pytest.raises(VirtError):
        nft.teardown_script(port, set(), set(), False)
    drv = NWFilterDriverImpl(root=str(tmp_path), firewall=_Recorder())
    esc = port.replace("\n", "&#10;").replace("\r", "&#13;").replace("\x1b", "&#27;")
    esc = esc.replace('"', "&quot;")
    if "\0" in esc:
        return  # not XML at all
    with pytest.raises(VirtError):
        drv.nwfilter_binding_create_xml(
            "<filterbinding><owner><name>vm</name>"
            "<uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>"
            f"<portdev name=\"{esc}\"/><mac address='52:54:00:aa:bb:01'/>"
            "<filterref filter='clean-traffic'/></filterbinding>")
    assert not list((tmp_path).rglob("*.xml")) or all(
        "vn" not in p.name for p in tmp_path.rglob("*.xml"))


def test_nft_expanded_program_is_clean() -> None:
    """A real filter's program passes the generator's own checks (no false refusal)."""
    d = NWFilterDef.from_xml("<filter name='c' chain='root'><rule action='drop' "
                             "direction='in'><tcp dstportstart='22' comment='ssh; {x}'/>"
                             "</rule></filter>")
    prog = nft.build("vnet7", expand({"c": d}.get, "c", {}))
    text = nft.script(prog, set(), set())
    assert 'comment "ssh; {x}"' in text
